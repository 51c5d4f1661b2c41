package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"

	"github.com/plgstack/plg/push"
)

var testEnd = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

func testCorpus(size int64, seed uint64) corpusConfig {
	return corpusConfig{Size: size, Seed: seed, Streams: 40, End: testEnd, Span: time.Hour}
}

func generateAll(t *testing.T, cfg corpusConfig) ([]string, *Truth) {
	t.Helper()
	g, err := newGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for !g.done() {
		_, _, line := g.next()
		lines = append(lines, string(line))
	}
	return lines, g.finish()
}

func TestGeneratorIsDeterministicPerSeed(t *testing.T) {
	a, _ := generateAll(t, testCorpus(200_000, 7))
	b, _ := generateAll(t, testCorpus(200_000, 7))
	c, _ := generateAll(t, testCorpus(200_000, 8))
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Error("the same seed generated different corpora")
	}
	if strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Error("different seeds generated the same corpus")
	}
}

func TestGeneratorStopsAtTheSize(t *testing.T) {
	for _, size := range []int64{1, 10_000, 300_000} {
		_, tr := generateAll(t, testCorpus(size, 1))
		if tr.Bytes < size || tr.Bytes >= size+2048 {
			t.Errorf("size %d: generated %d bytes, want the first line boundary at or past it", size, tr.Bytes)
		}
	}
}

func TestCorpusConfigRejectsBadRanges(t *testing.T) {
	good := testCorpus(1000, 1)
	for name, mut := range map[string]func(*corpusConfig){
		"zero size":          func(c *corpusConfig) { c.Size = 0 },
		"no streams":         func(c *corpusConfig) { c.Streams = 0 },
		"span not 5m-tiled":  func(c *corpusConfig) { c.Span = 7 * time.Minute },
		"end not aligned":    func(c *corpusConfig) { c.End = c.End.Add(time.Second) },
		"zero end":           func(c *corpusConfig) { c.End = time.Time{} },
		"span shorter than5": func(c *corpusConfig) { c.Span = time.Minute },
	} {
		c := good
		mut(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := good.validate(); err != nil {
		t.Errorf("a good config was rejected: %v", err)
	}
}

func TestStreamsAreDistinctValidLabelSets(t *testing.T) {
	streams := makeStreams(3, 250)
	seen := map[string]bool{}
	formats := map[lineFormat]int{}
	for _, s := range streams {
		ls, err := push.ParseLabels(s.Labels)
		if err != nil {
			t.Fatalf("%s: %v", s.Labels, err)
		}
		if ls.Get("namespace") != s.Namespace || ls.Get("pod") != s.Pod || ls.Get("container") != s.Format.container() {
			t.Errorf("%s: labels disagree with the stream %+v", s.Labels, s)
		}
		if seen[s.Labels] {
			t.Errorf("%s: two streams share it", s.Labels)
		}
		seen[s.Labels] = true
		formats[s.Format]++
	}
	if formats[formatJSON] != 100 || formats[formatAccess] != 75 || formats[formatLogfmt] != 75 {
		t.Errorf("formats %v, want 40%% json, 30%% access, 30%% logfmt", formats)
	}
}

func TestLevelRatiosAreRealistic(t *testing.T) {
	_, tr := generateAll(t, testCorpus(4_000_000, 1))
	var total int64
	for _, n := range tr.Levels {
		total += n
	}
	for level, want := range map[string]float64{"info": 0.80, "warn": 0.12, "error": 0.06, "debug": 0.02} {
		got := float64(tr.Levels[level]) / float64(total)
		if got < want*0.85 || got > want*1.15 {
			t.Errorf("level %s: %.3f of the lines, want about %.2f", level, got, want)
		}
	}
	if tr.Rare.Lines < 3 || tr.Rare.Lines > 20 {
		t.Errorf("rare token in %d lines, want 3 to 20", tr.Rare.Lines)
	}
}

// TestTruthMatchesAnIndependentRecount decodes the batch files as the
// server would and recounts everything the queries check, by other means
// than the generator's (JSON decoding, logfmt fields, label parsing).
func TestTruthMatchesAnIndependentRecount(t *testing.T) {
	cfg := testCorpus(1_500_000, 5)
	gen, err := writeBatchFiles(cfg, t.TempDir(), 3, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	tr := gen.Truth
	var (
		lines, rawBytes, rare, common, regex, json5xx, over250 int64
		jsonLevels                                             = map[string]int64{}
		nsBytes                                                = map[string]int64{}
		timeoutApps                                            = map[string]int64{}
		maxDur                                                 = map[string]float64{}
		lastTs                                                 = map[string]int64{}
		newestCommon                                           []int64
		durRe                                                  = regexp.MustCompile(`(?:^| )duration=(\S+)`)
		levelRe                                                = regexp.MustCompile(`(?:^| )level=(\S+)`)
		start, end                                             = cfg.End.Add(-cfg.Span).UnixNano(), cfg.End.UnixNano()
	)
	re := regexp.MustCompile(regex5xx)
	for _, name := range gen.Files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(f)
		var rec batchRecord
		for {
			if err := readRecord(r, &rec); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			raw, err := snappy.Decode(nil, rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			var req push.Request
			if err := push.DecodeProto(raw, &req); err != nil {
				t.Fatal(err)
			}
			var recLines, recBytes int
			for _, s := range req.Streams {
				ls, err := push.ParseLabels(s.Labels)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range s.Entries {
					line := string(e.Line)
					if e.Timestamp <= lastTs[s.Labels] {
						t.Fatalf("stream %s: timestamp %d after %d, want increasing", s.Labels, e.Timestamp, lastTs[s.Labels])
					}
					if e.Timestamp <= start || e.Timestamp > end {
						t.Fatalf("timestamp %d outside (%d, %d]", e.Timestamp, start, end)
					}
					lastTs[s.Labels] = e.Timestamp
					recLines++
					recBytes += len(line)
					lines++
					rawBytes += int64(len(line))
					nsBytes[ls.Get("namespace")] += int64(len(line))
					if strings.Contains(line, tr.Rare.Pattern) {
						rare++
					}
					if strings.Contains(line, commonWord) {
						common++
						newestCommon = append(newestCommon, e.Timestamp)
					}
					if strings.Contains(line, timeoutWord) {
						timeoutApps[ls.Get("app")]++
					}
					if re.MatchString(line) {
						regex++
					}
					switch ls.Get("container") {
					case "app":
						var v struct {
							Level  string `json:"level"`
							Status int    `json:"status"`
						}
						if err := json.Unmarshal(e.Line, &v); err != nil {
							t.Fatalf("JSON line %q: %v", line, err)
						}
						jsonLevels[v.Level]++
						if v.Status >= 500 {
							json5xx++
						}
					case "worker":
						m := durRe.FindStringSubmatch(line)
						if m == nil || levelRe.FindStringSubmatch(line) == nil {
							t.Fatalf("logfmt line %q: no duration or level", line)
						}
						d, err := time.ParseDuration(m[1])
						if err != nil {
							t.Fatalf("logfmt line %q: %v", line, err)
						}
						if d > 250*time.Millisecond {
							over250++
						}
						if ns := ls.Get("namespace"); d.Seconds() > maxDur[ns] {
							maxDur[ns] = d.Seconds()
						}
					case "nginx":
					default:
						t.Fatalf("unexpected container %q", ls.Get("container"))
					}
				}
				if got := ls.Get("app"); got == "" {
					t.Fatalf("stream %s without app", s.Labels)
				}
			}
			if recLines != rec.Lines || recBytes != rec.Raw {
				t.Fatalf("record says %d lines / %d bytes, holds %d / %d", rec.Lines, rec.Raw, recLines, recBytes)
			}
		}
		f.Close()
	}
	eq := func(what string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: recounted %d, the truth says %d", what, got, want)
		}
	}
	eq("lines", lines, tr.Lines)
	eq("bytes", rawBytes, tr.Bytes)
	eq("rare token lines", rare, tr.Rare.Lines)
	eq("common word lines", common, tr.Common.Lines)
	eq("regex lines", regex, tr.Regex.Lines)
	eq("JSON 5xx lines", json5xx, tr.JSON5xx.Lines)
	eq("logfmt duration > 250ms", over250, tr.Logfmt["250ms"])
	if !maps.Equal(maxDur, tr.LogfmtMaxDuration) || len(maxDur) == 0 {
		t.Errorf("longest logfmt durations by namespace: recomputed %v, the truth says %v", maxDur, tr.LogfmtMaxDuration)
	}
	for level, n := range jsonLevels {
		eq("JSON level "+level, n, tr.JSONLevels[level])
	}
	for ns, n := range nsBytes {
		eq("namespace "+ns+" bytes", n, tr.Namespaces[ns].Bytes)
	}
	for app, n := range timeoutApps {
		eq("timeout lines of "+app, n, tr.TimeoutApp[app])
	}
	if tr.Rare.Lines == 0 || over250 == 0 || json5xx == 0 || regex == 0 {
		t.Errorf("a predicate matched nothing: rare %d, logfmt>250ms %d, json5xx %d, regex %d", tr.Rare.Lines, over250, json5xx, regex)
	}
	// The newest common-word matches, newest first.
	slices.Sort(newestCommon)
	slices.Reverse(newestCommon)
	if len(tr.Common.Newest) != newestKept {
		t.Fatalf("%d newest common matches kept, want %d", len(tr.Common.Newest), newestKept)
	}
	for i, ts := range tr.Common.Newest {
		if newestCommon[i] != ts {
			t.Fatalf("newest common match %d: truth %d, recount %d", i, ts, newestCommon[i])
		}
	}
}

func TestReadRecordRejectsDamage(t *testing.T) {
	var buf bytes.Buffer
	b := newBatchBuilder()
	b.add(0, `{a="b"}`, 1, []byte("hello"))
	if err := b.writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	whole := buf.Bytes()
	for _, tc := range []struct {
		name string
		data []byte
		want string // "" for success, "EOF" for a clean end
	}{
		{"whole record", whole, ""},
		{"empty input", nil, "EOF"},
		{"cut header", whole[:5], "header"},
		{"cut body", whole[:len(whole)-1], "body"},
		{"oversized length", append([]byte{0xff, 0xff, 0xff, 0xff}, whole[4:]...), "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec batchRecord
			err := readRecord(bytes.NewReader(tc.data), &rec)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want == "" && (rec.Lines != 1 || rec.Raw != 5):
				t.Fatalf("record %d lines %d bytes, want 1 and 5", rec.Lines, rec.Raw)
			case tc.want == "EOF" && !errors.Is(err, io.EOF):
				t.Fatalf("error %v, want io.EOF", err)
			case tc.want != "" && tc.want != "EOF" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
