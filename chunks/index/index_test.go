package index

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// fixture is a small tenant: three apps in two namespaces, one series
// without the "env" label, chunks at distinct times.
func fixture() []Series {
	return []Series{
		series(labels.FromStrings("app", "api", "namespace", "prod-eu", "env", "prod"), [2]int64{100, 200}, [2]int64{300, 400}),
		series(labels.FromStrings("app", "web", "namespace", "prod-eu", "env", "prod"), [2]int64{150, 250}),
		series(labels.FromStrings("app", "api", "namespace", "staging", "env", "staging"), [2]int64{500, 600}),
		series(labels.FromStrings("app", "db", "namespace", "prod-us"), [2]int64{0, 1000}),
		series(labels.FromStrings("app", "worker", "namespace", "prod-us", "env", ""+"prod"), [2]int64{700, 800}),
	}
}

func TestSelectMatchers(t *testing.T) {
	r := mustOpen(t, mustWrite(t, fixture()...))
	m := func(typ labels.MatchType, n, v string) *labels.Matcher { return mustMatcher(t, typ, n, v) }
	tests := []struct {
		name     string
		matchers []*labels.Matcher
		want     []string // label sets of the selected series, in label order
	}{
		{"no matchers selects every series", nil, []string{
			`{app="api", env="prod", namespace="prod-eu"}`, `{app="api", env="staging", namespace="staging"}`,
			`{app="db", namespace="prod-us"}`, `{app="web", env="prod", namespace="prod-eu"}`, `{app="worker", env="prod", namespace="prod-us"}`}},
		{"equal selects one value", []*labels.Matcher{m(labels.MatchEqual, "app", "api")}, []string{
			`{app="api", env="prod", namespace="prod-eu"}`, `{app="api", env="staging", namespace="staging"}`}},
		{"equal to an unknown value selects nothing", []*labels.Matcher{m(labels.MatchEqual, "app", "nope")}, nil},
		{"equal on an unknown label selects nothing", []*labels.Matcher{m(labels.MatchEqual, "cluster", "x")}, nil},
		{"equal empty selects series lacking the label", []*labels.Matcher{m(labels.MatchEqual, "env", "")}, []string{
			`{app="db", namespace="prod-us"}`}},
		{"equal empty on an unknown label selects every series", []*labels.Matcher{m(labels.MatchEqual, "cluster", ""), m(labels.MatchEqual, "app", "web")}, []string{
			`{app="web", env="prod", namespace="prod-eu"}`}},
		{"not equal keeps series lacking the label", []*labels.Matcher{m(labels.MatchNotEqual, "env", "prod")}, []string{
			`{app="api", env="staging", namespace="staging"}`, `{app="db", namespace="prod-us"}`}},
		{"not equal empty selects series having the label", []*labels.Matcher{m(labels.MatchNotEqual, "env", ""), m(labels.MatchEqual, "namespace", "prod-us")}, []string{
			`{app="worker", env="prod", namespace="prod-us"}`}},
		{"regexp literal alternation", []*labels.Matcher{m(labels.MatchRegexp, "app", "web|db|missing")}, []string{
			`{app="db", namespace="prod-us"}`, `{app="web", env="prod", namespace="prod-eu"}`}},
		{"regexp with prefix", []*labels.Matcher{m(labels.MatchRegexp, "namespace", "prod-.*")}, []string{
			`{app="api", env="prod", namespace="prod-eu"}`, `{app="db", namespace="prod-us"}`,
			`{app="web", env="prod", namespace="prod-eu"}`, `{app="worker", env="prod", namespace="prod-us"}`}},
		{"regexp is anchored", []*labels.Matcher{m(labels.MatchRegexp, "namespace", "eu")}, nil},
		{"regexp without prefix scans values", []*labels.Matcher{m(labels.MatchRegexp, "namespace", ".*-us")}, []string{
			`{app="db", namespace="prod-us"}`, `{app="worker", env="prod", namespace="prod-us"}`}},
		{"regexp matching empty also selects series lacking the label", []*labels.Matcher{m(labels.MatchRegexp, "env", "staging|")}, []string{
			`{app="api", env="staging", namespace="staging"}`, `{app="db", namespace="prod-us"}`}},
		{"regexp dot-star selects every series", []*labels.Matcher{m(labels.MatchRegexp, "env", ".*")}, []string{
			`{app="api", env="prod", namespace="prod-eu"}`, `{app="api", env="staging", namespace="staging"}`,
			`{app="db", namespace="prod-us"}`, `{app="web", env="prod", namespace="prod-eu"}`, `{app="worker", env="prod", namespace="prod-us"}`}},
		{"regexp dot-plus requires the label", []*labels.Matcher{m(labels.MatchRegexp, "env", ".+")}, []string{
			`{app="api", env="prod", namespace="prod-eu"}`, `{app="api", env="staging", namespace="staging"}`,
			`{app="web", env="prod", namespace="prod-eu"}`, `{app="worker", env="prod", namespace="prod-us"}`}},
		{"not regexp alternation keeps series lacking the label", []*labels.Matcher{m(labels.MatchNotRegexp, "env", "prod|dev")}, []string{
			`{app="api", env="staging", namespace="staging"}`, `{app="db", namespace="prod-us"}`}},
		{"not regexp scan", []*labels.Matcher{m(labels.MatchNotRegexp, "namespace", "prod-.*")}, []string{
			`{app="api", env="staging", namespace="staging"}`}},
		{"not regexp not matching empty requires the label", []*labels.Matcher{m(labels.MatchNotRegexp, "env", ".*g|")}, []string{
			`{app="api", env="prod", namespace="prod-eu"}`, `{app="web", env="prod", namespace="prod-eu"}`, `{app="worker", env="prod", namespace="prod-us"}`}},
		{"matchers intersect", []*labels.Matcher{m(labels.MatchEqual, "app", "api"), m(labels.MatchRegexp, "namespace", "prod-.*")}, []string{
			`{app="api", env="prod", namespace="prod-eu"}`}},
		{"disjoint matchers select nothing", []*labels.Matcher{m(labels.MatchEqual, "app", "db"), m(labels.MatchEqual, "env", "prod")}, nil},
		{"only subtracting matchers start from every series", []*labels.Matcher{m(labels.MatchNotEqual, "app", "api"), m(labels.MatchNotEqual, "namespace", "prod-us")}, []string{
			`{app="web", env="prod", namespace="prod-eu"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Select(minTime, maxTime, tt.matchers...)
			if err != nil {
				t.Fatal(err)
			}
			if g := labelStrings(got); !slices.Equal(g, tt.want) {
				t.Errorf("got %q\nwant %q", g, tt.want)
			}
			if d := diffSeries(got, naiveSelect(fixture(), minTime, maxTime, tt.matchers...)); d != "" {
				t.Errorf("differs from full scan: %s", d)
			}
		})
	}
}

func TestSelectTimeRange(t *testing.T) {
	api := labels.FromStrings("app", "api")
	r := mustOpen(t, mustWrite(t, series(api, [2]int64{300, 400}, [2]int64{100, 200}, [2]int64{150, 350})))
	fp := api.Hash()
	tests := []struct {
		name       string
		mint, maxt int64
		want       []ChunkRef
	}{
		{"range before all chunks", 0, 99, nil},
		{"range after all chunks", 401, 1000, nil},
		{"bounds are inclusive at chunk start", 0, 100, []ChunkRef{chunk(fp, 100, 200)}},
		{"bounds are inclusive at chunk end", 400, 500, []ChunkRef{chunk(fp, 300, 400)}},
		{"overlapping chunks sorted by MinT", 160, 310, []ChunkRef{chunk(fp, 100, 200), chunk(fp, 150, 350), chunk(fp, 300, 400)}},
		{"range inside one chunk", 360, 370, []ChunkRef{chunk(fp, 300, 400)}},
		{"gap between chunks still hits a spanning chunk", 201, 299, []ChunkRef{chunk(fp, 150, 350)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Select(tt.mint, tt.maxt, mustMatcher(t, labels.MatchEqual, "app", "api"))
			if err != nil {
				t.Fatal(err)
			}
			var chunks []ChunkRef
			if len(got) == 1 {
				chunks = got[0].Chunks
			} else if len(got) > 1 {
				t.Fatalf("got %d series, want at most 1", len(got))
			}
			if !slices.Equal(chunks, tt.want) {
				t.Errorf("got %+v\nwant %+v", chunks, tt.want)
			}
		})
	}
}

func TestSelectAgreesWithFullScanOnRandomSeries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ss := k8sSeries(rng, 500, 3, 10_000)
	r := mustOpen(t, mustWrite(t, ss...))
	m := func(typ labels.MatchType, n, v string) *labels.Matcher { return mustMatcher(t, typ, n, v) }
	queries := [][]*labels.Matcher{
		{m(labels.MatchEqual, "app", "api")},
		{m(labels.MatchRegexp, "namespace", "prod-.*"), m(labels.MatchNotEqual, "container", "istio-proxy")},
		{m(labels.MatchRegexp, "app", "api|web"), m(labels.MatchNotRegexp, "node", "node-00.")},
		{m(labels.MatchRegexp, "pod", ".*-1.")},
		{m(labels.MatchEqual, "job", "dev/redis"), m(labels.MatchEqual, "absent", "")},
	}
	for _, q := range queries {
		for _, tr := range [][2]int64{{minTime, maxTime}, {2000, 3000}, {9_999, 20_000}} {
			got, err := r.Select(tr[0], tr[1], q...)
			if err != nil {
				t.Fatal(err)
			}
			want := naiveSelect(ss, tr[0], tr[1], q...)
			if len(want) == 0 {
				t.Fatalf("query %v %v: reference selects nothing; the test data is too sparse", q, tr)
			}
			if d := diffSeries(got, want); d != "" {
				t.Errorf("query %v %v: %s", q, tr, d)
			}
		}
	}
}

func TestLabelNamesAndValues(t *testing.T) {
	r := mustOpen(t, mustWrite(t, fixture()...))
	m := func(typ labels.MatchType, n, v string) *labels.Matcher { return mustMatcher(t, typ, n, v) }
	tests := []struct {
		name       string
		mint, maxt int64
		matchers   []*labels.Matcher
		wantNames  []string
		wantApps   []string
	}{
		{"whole segment", minTime, maxTime, nil, []string{"app", "env", "namespace"}, []string{"api", "db", "web", "worker"}},
		{"time range limits series", 450, 650, nil, []string{"app", "env", "namespace"}, []string{"api", "db"}},
		{"time range with only an unlabelled-env series", 900, 1000, nil, []string{"app", "namespace"}, []string{"db"}},
		{"matchers limit series", minTime, maxTime, []*labels.Matcher{m(labels.MatchEqual, "namespace", "prod-us")}, []string{"app", "env", "namespace"}, []string{"db", "worker"}},
		{"range outside the segment", 2000, 3000, nil, nil, nil},
		{"no series match", minTime, maxTime, []*labels.Matcher{m(labels.MatchEqual, "app", "none")}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names, err := r.LabelNames(tt.mint, tt.maxt, tt.matchers...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names, tt.wantNames) {
				t.Errorf("LabelNames = %q, want %q", names, tt.wantNames)
			}
			apps, err := r.LabelValues("app", tt.mint, tt.maxt, tt.matchers...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(apps, tt.wantApps) {
				t.Errorf("LabelValues(app) = %q, want %q", apps, tt.wantApps)
			}
		})
	}
	if vs, err := r.LabelValues("cluster", minTime, maxTime); err != nil || vs != nil {
		t.Errorf("LabelValues of an unknown label = %q, %v; want none", vs, err)
	}
}

func TestStats(t *testing.T) {
	r := mustOpen(t, mustWrite(t, fixture()...))
	var wantAll Stats
	for _, s := range fixture() {
		wantAll.Streams++
		for _, c := range s.Chunks {
			wantAll.addChunk(c)
		}
	}
	api := chunk(labels.FromStrings("app", "api", "namespace", "prod-eu", "env", "prod").Hash(), 300, 400)
	tests := []struct {
		name       string
		mint, maxt int64
		matchers   []*labels.Matcher
		want       Stats
	}{
		{"whole segment", minTime, maxTime, nil, wantAll},
		{"one chunk of one stream", 350, 360, []*labels.Matcher{mustMatcher(t, labels.MatchEqual, "app", "api")},
			Stats{Streams: 1, Chunks: 1, Entries: uint64(api.Entries), Bytes: uint64(api.UncompressedBytes)}},
		{"nothing selected", minTime, maxTime, []*labels.Matcher{mustMatcher(t, labels.MatchEqual, "app", "x")}, Stats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Stats(tt.mint, tt.maxt, tt.matchers...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWriteNormalizesInput(t *testing.T) {
	ls := labels.FromStrings("app", "api")
	fp := ls.Hash()
	in := []Series{
		{Labels: ls, Fingerprint: fp, Chunks: []ChunkRef{chunk(fp, 300, 400), chunk(fp, 100, 200)}},
		{Labels: labels.FromStrings("app", "empty"), Fingerprint: 7},
		{Labels: ls, Fingerprint: fp, Chunks: []ChunkRef{chunk(fp, 100, 200), chunk(fp, 200, 300)}},
	}
	inCopy := slices.Clone(in[0].Chunks)
	r := mustOpen(t, mustWrite(t, in...))
	if !slices.Equal(in[0].Chunks, inCopy) {
		t.Errorf("Write reordered the caller's chunks: %+v", in[0].Chunks)
	}
	got, err := r.Select(minTime, maxTime)
	if err != nil {
		t.Fatal(err)
	}
	want := []Series{{Labels: ls, Fingerprint: fp, Chunks: []ChunkRef{chunk(fp, 100, 200), chunk(fp, 200, 300), chunk(fp, 300, 400)}}}
	if d := diffSeries(got, want); d != "" {
		t.Error(d)
	}
	if r.NumSeries() != 1 || r.NumChunks() != 3 {
		t.Errorf("NumSeries, NumChunks = %d, %d; want 1, 3", r.NumSeries(), r.NumChunks())
	}
	if mint, maxt := r.Bounds(); mint != 100 || maxt != 400 {
		t.Errorf("Bounds = %d, %d; want 100, 400", mint, maxt)
	}
}

func TestWriteRejectsInvalidSeries(t *testing.T) {
	ls := labels.FromStrings("app", "api")
	fp := ls.Hash()
	tests := []struct {
		name    string
		series  Series
		wantErr string
	}{
		{"no labels", Series{Labels: labels.EmptyLabels(), Fingerprint: 1, Chunks: []ChunkRef{chunk(1, 0, 1)}}, "no labels"},
		{"empty label value", Series{Labels: labels.FromStrings("app", ""), Fingerprint: 1, Chunks: []ChunkRef{chunk(1, 0, 1)}}, "empty value"},
		{"duplicate label names", Series{Labels: labels.New(labels.Label{Name: "a", Value: "1"}, labels.Label{Name: "a", Value: "2"}), Fingerprint: 1, Chunks: []ChunkRef{chunk(1, 0, 1)}}, "duplicate label name"},
		{"chunk fingerprint differs", Series{Labels: ls, Fingerprint: fp, Chunks: []ChunkRef{chunk(fp+1, 0, 1)}}, "differs from series fingerprint"},
		{"MaxT before MinT", Series{Labels: ls, Fingerprint: fp, Chunks: []ChunkRef{chunk(fp, 5, 4)}}, "before MinT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Write([]Series{tt.series})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("same labels with different fingerprints", func(t *testing.T) {
		_, err := Write([]Series{series(ls, [2]int64{0, 1}), {Labels: ls, Fingerprint: fp + 1, Chunks: []ChunkRef{chunk(fp+1, 2, 3)}}})
		if err == nil || !strings.Contains(err.Error(), "conflicting fingerprints") {
			t.Errorf("got %v, want a conflicting fingerprints error", err)
		}
	})
}

func TestEmptySegment(t *testing.T) {
	r := mustOpen(t, mustWrite(t))
	if ss, err := r.Select(minTime, maxTime); err != nil || ss != nil {
		t.Errorf("Select = %v, %v; want nothing", ss, err)
	}
	if st, err := r.Stats(minTime, maxTime); err != nil || st != (Stats{}) {
		t.Errorf("Stats = %+v, %v; want zero", st, err)
	}
	if names, err := r.LabelNames(minTime, maxTime); err != nil || names != nil {
		t.Errorf("LabelNames = %q, %v; want nothing", names, err)
	}
}

func TestMultiReaderDeduplicates(t *testing.T) {
	api := labels.FromStrings("app", "api")
	web := labels.FromStrings("app", "web")
	// Two ingester replicas flushed overlapping views of the same streams.
	seg1 := mustWrite(t, series(api, [2]int64{100, 200}, [2]int64{300, 400}), series(web, [2]int64{100, 150}))
	seg2 := mustWrite(t, series(api, [2]int64{300, 400}, [2]int64{500, 600}))
	seg3 := mustWrite(t, series(labels.FromStrings("app", "db"), [2]int64{5000, 6000}))
	mr := NewMultiReader(mustOpen(t, seg1), mustOpen(t, seg2), mustOpen(t, seg3))

	all := []Series{
		series(api, [2]int64{100, 200}, [2]int64{300, 400}, [2]int64{500, 600}),
		series(labels.FromStrings("app", "db"), [2]int64{5000, 6000}),
		series(web, [2]int64{100, 150}),
	}
	tests := []struct {
		name       string
		mint, maxt int64
		matchers   []*labels.Matcher
		want       []Series
	}{
		{"every series once with union of chunks", minTime, maxTime, nil, all},
		{"matcher across segments", minTime, maxTime, []*labels.Matcher{mustMatcher(t, labels.MatchEqual, "app", "api")}, all[:1]},
		{"time range", 350, 550, nil, []Series{series(api, [2]int64{300, 400}, [2]int64{500, 600})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mr.Select(tt.mint, tt.maxt, tt.matchers...)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffSeries(got, tt.want); d != "" {
				t.Error(d)
			}
			st, err := mr.Stats(tt.mint, tt.maxt, tt.matchers...)
			if err != nil {
				t.Fatal(err)
			}
			var want Stats
			for _, s := range tt.want {
				want.Streams++
				for _, c := range s.Chunks {
					want.addChunk(c)
				}
			}
			if st != want {
				t.Errorf("Stats = %+v, want %+v", st, want)
			}
		})
	}
	names, err := mr.LabelValues("app", minTime, maxTime)
	if err != nil || !slices.Equal(names, []string{"api", "db", "web"}) {
		t.Errorf("LabelValues(app) = %q, %v", names, err)
	}
	if names, err := mr.LabelNames(0, 1000); err != nil || !slices.Equal(names, []string{"app"}) {
		t.Errorf("LabelNames = %q, %v", names, err)
	}
}

func TestMergeEqualsMultiReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	base := k8sSeries(rng, 200, 2, 1000)
	// Three overlapping flushes: shared series, some chunks in several.
	segs := [][]byte{mustWrite(t, base[:120]...), mustWrite(t, base[80:]...), mustWrite(t, base[50:150]...)}
	var readers []*Reader
	for _, s := range segs {
		readers = append(readers, mustOpen(t, s))
	}
	merged, err := Merge(segs...)
	if err != nil {
		t.Fatal(err)
	}
	mr := mustOpen(t, merged)
	want, err := NewMultiReader(readers...).Select(minTime, maxTime)
	if err != nil {
		t.Fatal(err)
	}
	got, err := mr.Select(minTime, maxTime)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSeries(got, want); d != "" {
		t.Error(d)
	}
	if d := diffSeries(got, naiveSelect(base, minTime, maxTime)); d != "" {
		t.Errorf("merge lost or duplicated data: %s", d)
	}
	if _, err := Merge(segs[0], []byte("garbage")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Merge with a corrupt segment: got %v, want ErrCorrupt", err)
	}
}

func TestMultiReaderAgreesWithFullScanOverManySegments(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	base := k8sSeries(rng, 300, 3, 10_000)
	var (
		readers []*Reader
		union   []Series
	)
	// Each flush holds a random subset of series with a random subset of
	// their chunks, so series and chunks repeat across segments.
	for range 12 {
		var flush []Series
		for _, s := range base {
			if rng.IntN(3) != 0 {
				continue
			}
			var cs []ChunkRef
			for _, c := range s.Chunks {
				if rng.IntN(2) == 0 {
					cs = append(cs, c)
				}
			}
			flush = append(flush, Series{Labels: s.Labels, Fingerprint: s.Fingerprint, Chunks: cs})
		}
		readers = append(readers, mustOpen(t, mustWrite(t, flush...)))
		union = append(union, flush...)
	}
	mr := NewMultiReader(readers...)
	for _, ms := range [][]*labels.Matcher{
		nil,
		{mustMatcher(t, labels.MatchRegexp, "namespace", "prod-.*")},
		{mustMatcher(t, labels.MatchNotEqual, "app", "api"), mustMatcher(t, labels.MatchRegexp, "container", "main|sidecar")},
	} {
		for _, tr := range [][2]int64{{minTime, maxTime}, {4000, 6000}} {
			got, err := mr.Select(tr[0], tr[1], ms...)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffSeries(got, naiveSelect(union, tr[0], tr[1], ms...)); d != "" {
				t.Errorf("matchers %v range %v: %s", ms, tr, d)
			}
		}
	}
}

func TestMultiReaderFromLeavesOutChunksEndingBeforeIt(t *testing.T) {
	api, web := labels.FromStrings("app", "api"), labels.FromStrings("app", "web")
	a := mustOpen(t, mustWrite(t, series(api, [2]int64{100, 200}, [2]int64{150, 350})))
	b := mustOpen(t, mustWrite(t, series(web, [2]int64{100, 240})))
	m := NewMultiReaderFrom(250, a, b)
	got, err := m.Select(minTime, maxTime)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !slices.Equal(got[0].Chunks, []ChunkRef{chunk(api.Hash(), 150, 350)}) {
		t.Errorf("Select from 250 = %+v, want only api's chunk [150, 350]", got)
	}
	if got, err := m.Select(0, 249); err != nil || got != nil {
		t.Errorf("Select of a range before 250 = %+v, %v", got, err)
	}
	if vals, err := m.LabelValues("app", minTime, maxTime); err != nil || !slices.Equal(vals, []string{"api"}) {
		t.Errorf("LabelValues = %q, %v; want [api]", vals, err)
	}
	if names, err := m.LabelNames(0, 249); err != nil || len(names) != 0 {
		t.Errorf("LabelNames before 250 = %q, %v", names, err)
	}
	st, err := m.Stats(minTime, maxTime)
	if err != nil || st.Streams != 1 || st.Chunks != 1 {
		t.Errorf("Stats = %+v, %v; want 1 stream, 1 chunk", st, err)
	}
}
