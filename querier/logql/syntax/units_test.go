package syntax

import (
	"testing"
	"time"
)

func TestParseDurationAcceptsPrometheusAndGoSyntax(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"5m", 5 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"250ms", 250 * time.Millisecond},
		{"1d", 24 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"1.5h", 90 * time.Minute},
		{"10us", 10 * time.Microsecond},
		{"10µs", 10 * time.Microsecond},
		{"7ns", 7},
		{"-5m", -5 * time.Minute},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "5", "5minutes", "m", "1.5.5h"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded, want error", bad)
		}
	}
}

func TestParseBytesAcceptsDecimalAndBinaryUnits(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"42B", 42},
		{"42", 42},
		{"20MB", 20_000_000},
		{"20mb", 20_000_000},
		{"1kB", 1000},
		{"1KB", 1000},
		{"1.5KiB", 1536},
		{"2GiB", 2 << 30},
		{"1PiB", 1 << 50},
		{"18446744073709551615B", 18446744073709551615},
	}
	for _, tc := range tests {
		got, err := ParseBytes(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "MB", "1XB", "18446744073709551616B", "20000PB", "1.2.3MB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded, want error", bad)
		}
	}
}

func TestFormattedUnitsParseBackToTheSameValue(t *testing.T) {
	for _, d := range []time.Duration{1, time.Microsecond, 1500 * time.Microsecond, time.Second, 90 * time.Minute, 36 * time.Hour, 8 * 24 * time.Hour, -time.Minute} {
		got, err := ParseDuration(formatDuration(d))
		if err != nil || got != d {
			t.Errorf("ParseDuration(formatDuration(%v) = %q) = %v, %v", d, formatDuration(d), got, err)
		}
	}
	for _, b := range []uint64{0, 1, 1000, 1024, 1536, 20_000_000, 3 << 40, 18446744073709551615} {
		got, err := ParseBytes(formatBytes(b))
		if err != nil || got != b {
			t.Errorf("ParseBytes(formatBytes(%d) = %q) = %d, %v", b, formatBytes(b), got, err)
		}
	}
}
