package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"1GB", 1e9, false},
		{"10GB", 10e9, false},
		{"200MB", 200e6, false},
		{"200mb", 200e6, false},
		{"1.5GiB", 3 << 29, false},
		{"512KiB", 512 << 10, false},
		{"4096", 4096, false},
		{" 3 MB ", 3e6, false},
		{"", 0, true},
		{"GB", 0, true},
		{"1XB", 0, true},
		{"-1GB", 0, true},
		{"1e9", 0, true},
		{"0", 0, true},
		{"1..2MB", 0, true},
		{"2PiB", 0, true},
	} {
		got, err := parseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// Fields after the name: state ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime stime ...
	tail := " S 1 2 3 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0"
	for _, tc := range []struct {
		name, in string
		want     time.Duration
		err      bool
	}{
		{"plain name", "1234 (plg)" + tail, 3250 * time.Millisecond, false},
		{"name with spaces and parens", "1234 (plg (x) y)" + tail, 3250 * time.Millisecond, false},
		{"no closing paren", "1234 plg" + tail, 0, true},
		{"too few fields", "1234 (plg) S 1 2 3", 0, true},
		{"negative ticks", "1234 (plg) S 1 2 3 0 -1 4194560 100 0 0 0 -5 75", 0, true},
		{"ticks not numbers", "1234 (plg) S 1 2 3 0 -1 4194560 100 0 0 0 x 75", 0, true},
	} {
		got, err := parseProcStat([]byte(tc.in))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tplg\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nBad:\t12 MB\n"
	for _, tc := range []struct {
		key  string
		want int64
		err  bool
	}{
		{"VmHWM:", 50 << 20, false},
		{"VmRSS:", 40 << 20, false},
		{"VmSwap:", 0, true},
		{"Bad:", 0, true},
	} {
		got, err := parseStatusKB([]byte(status), tc.key)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d, error %v", tc.key, got, err, tc.want, tc.err)
		}
	}
}

func TestSampleProcReadsThisProcess(t *testing.T) {
	s, err := sampleProc(osGetpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.HWM <= 0 || s.RSS <= 0 || s.RSS > s.HWM {
		t.Errorf("RSS %d, HWM %d: want 0 < RSS <= HWM", s.RSS, s.HWM)
	}
}

func TestParseFlagsValidates(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"-size=200MB", "-clients=8"}, ""},
		{[]string{"-size=lots"}, "-size"},
		{[]string{"-clients=0"}, "-clients"},
		{[]string{"-streams=2", "-clients=3"}, "-clients"},
		{[]string{"-span=7m"}, "-span"},
		{[]string{"-agent-files=0"}, "-agent-files"},
		{[]string{"extra"}, "unexpected"},
		{[]string{"-queries=("}, "-queries"},
		{[]string{"-queries=nosuchquery"}, "matches none"},
	} {
		c, err := parseFlags(tc.args)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.args, err)
			} else if c.Size != 200e6 || c.Clients != 8 || c.Streams != 200 {
				t.Errorf("%q: parsed %+v", tc.args, c)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want one about %s", tc.args, err, tc.err)
		}
	}
}

func TestParseMetricLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		v    float64
		ok   bool
	}{
		{"plg_ingester_memory_chunks 42", "plg_ingester_memory_chunks", 42, true},
		{`plg_ingester_rejected_entries_total{reason="rate_limited",tenant="a}b"} 3 1700000000`, "plg_ingester_rejected_entries_total", 3, true},
		{"go_gc_duration_seconds_sum 1.5e-3", "go_gc_duration_seconds_sum", 0.0015, true},
		{"# HELP plg_ingester_memory_chunks Chunks.", "", 0, false},
		{"", "", 0, false},
		{"novalue", "", 0, false},
		{`broken{a="b" 1`, "", 0, false},
		{"x notanumber", "", 0, false},
	} {
		name, v, ok := parseMetricLine(tc.in)
		if name != tc.name || v != tc.v || ok != tc.ok {
			t.Errorf("parseMetricLine(%q) = %q, %v, %v; want %q, %v, %v", tc.in, name, v, ok, tc.name, tc.v, tc.ok)
		}
	}
}
