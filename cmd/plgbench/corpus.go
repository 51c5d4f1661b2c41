package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// The corpus: Kubernetes-style streams whose lines are JSON application
// logs, nginx access logs or logfmt, generated one at a time from a seed so
// that 10 GB never sit in memory. The generator counts what it writes in a
// Truth, against which every query result is checked.

// lineFormat is how a stream's container writes its lines. A container
// writes one format, as real ones do, so `{container="app"} | json` parses
// every line it selects.
type lineFormat uint8

const (
	formatJSON   lineFormat = iota // container="app"
	formatAccess                   // container="nginx"
	formatLogfmt                   // container="worker"
)

func (f lineFormat) String() string {
	switch f {
	case formatJSON:
		return "json"
	case formatAccess:
		return "access"
	case formatLogfmt:
		return "logfmt"
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

func (f lineFormat) container() string {
	return [...]string{"app", "nginx", "worker"}[f]
}

// What the queries look for. The regex is the usual 5xx search: a status
// code field, whichever way the format writes it.
const (
	commonWord  = "error"
	timeoutWord = "timeout"
	regex5xx    = `(status"?[:=]|HTTP/1\.1" )5\d\d`
	newestKept  = 100 // newest matches remembered for the limit-100 checks
)

var re5xx = regexp.MustCompile(regex5xx)

// maybe5xx is a necessary condition for re5xx, cheaper to test: a match
// has ':', '=' or '" ' right before its 5.
func maybe5xx(line []byte) bool {
	return containsStr(line, ":5") || containsStr(line, "=5") || containsStr(line, `" 5`)
}

// corpusConfig says what to generate.
type corpusConfig struct {
	Size    int64 // bytes of log text (lines without newlines)
	Seed    uint64
	Streams int
	// End is the end of the time range (aligned to alignStep); lines are
	// spread over (End-Span, End].
	End  time.Time
	Span time.Duration
}

// alignStep aligns the time range so that range queries with steps of 1m
// and 5m tile it exactly.
const alignStep = 5 * time.Minute

func (c corpusConfig) validate() error {
	switch {
	case c.Size <= 0:
		return fmt.Errorf("corpus size %d: must be positive", c.Size)
	case c.Streams < 1:
		return fmt.Errorf("corpus streams %d: must be at least 1", c.Streams)
	case c.Span < alignStep || c.Span%alignStep != 0:
		return fmt.Errorf("corpus span %s: must be a positive multiple of %s", c.Span, alignStep)
	case c.End.IsZero() || !c.End.Equal(c.End.Truncate(alignStep)):
		return fmt.Errorf("corpus end %s: must be aligned to %s", c.End, alignStep)
	}
	return nil
}

// streamDef is one stream of the corpus.
type streamDef struct {
	Namespace, App, Pod, Container string
	Format                         lineFormat
	// Labels in Prometheus form, names sorted.
	Labels string
	weight float64
}

func (s *streamDef) labelMap() map[string]string {
	return map[string]string{"namespace": s.Namespace, "app": s.App, "pod": s.Pod, "container": s.Container}
}

var (
	namespaces = []string{"shop", "payments", "checkout", "search", "auth", "ingress-nginx",
		"monitoring", "orders", "inventory", "shipping", "notifications", "platform"}
	appsByFormat = [...][]string{
		formatJSON:   {"api", "checkout-svc", "payments-api", "user-svc", "orders-api", "search-api", "cart-svc"},
		formatAccess: {"nginx", "frontend", "ingress-controller", "static-web"},
		formatLogfmt: {"worker", "scheduler", "billing-worker", "mailer", "indexer"},
	}
)

// makeStreams derives the streams from the seed: 40% JSON, 30% access,
// 30% logfmt, with volumes that differ by up to 10x as real pods' do.
func makeStreams(seed uint64, n int) []streamDef {
	rng := rand.New(rand.NewPCG(seed, 0x5eed5))
	out := make([]streamDef, n)
	for i := range out {
		var f lineFormat
		switch r := i % 10; {
		case r < 4:
			f = formatJSON
		case r < 7:
			f = formatAccess
		default:
			f = formatLogfmt
		}
		apps := appsByFormat[f]
		s := streamDef{
			Namespace: namespaces[i%len(namespaces)],
			App:       apps[(i/10)%len(apps)],
			Container: f.container(),
			Format:    f,
		}
		// Pod names as a Deployment makes them: app-<rs hash>-<5 chars>; the
		// stream index keeps them unique.
		s.Pod = fmt.Sprintf("%s-%08x-%s%d", s.App, rng.Uint32(), randAlnum(rng, 4), i)
		s.Labels = fmt.Sprintf(`{app=%q, container=%q, namespace=%q, pod=%q}`, s.App, s.Container, s.Namespace, s.Pod)
		u := rng.Float64()
		s.weight = 1 + 9*u*u*u
		out[i] = s
	}
	return out
}

func randAlnum(rng *rand.Rand, n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// Truth is what the generator wrote, counted as it wrote it.
type Truth struct {
	Lines   int64 `json:"lines"`
	Bytes   int64 `json:"bytes"`
	FirstTs int64 `json:"first_ts_ns"`
	LastTs  int64 `json:"last_ts_ns"`

	Streams    []StreamTruth      `json:"streams"`
	Namespaces map[string]*Volume `json:"namespaces"`
	Levels     map[string]int64   `json:"levels"`      // JSON and logfmt lines by level
	JSONLevels map[string]int64   `json:"json_levels"` // {container="app"} lines by level
	Formats    map[string]*Volume `json:"formats"`
	TimeoutApp map[string]int64   `json:"timeout_lines_by_app"`
	Rare       MatchTruth         `json:"rare_token"`
	Common     MatchTruth         `json:"common_word"`
	Regex      MatchTruth         `json:"regex_5xx"`
	JSON5xx    MatchTruth         `json:"json_status_5xx"`
	Logfmt     map[string]int64   `json:"logfmt_duration_over"` // "150ms", "250ms"
	// LogfmtMaxDuration is the longest duration of a logfmt line, in
	// seconds, per namespace with logfmt lines.
	LogfmtMaxDuration map[string]float64 `json:"logfmt_max_duration_by_namespace"`
}

// Volume is a line count and the bytes of those lines.
type Volume struct {
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
}

// StreamTruth is one stream and what it received.
type StreamTruth struct {
	Labels map[string]string `json:"labels"`
	Volume
}

// MatchTruth counts the lines matching a predicate and remembers the
// timestamps of the newest of them (newest first).
type MatchTruth struct {
	Pattern string  `json:"pattern"`
	Lines   int64   `json:"lines"`
	Newest  []int64 `json:"-"`
	recent  []int64 // oldest first; trimmed to newestKept now and then
}

func (m *MatchTruth) add(ts int64) {
	m.Lines++
	m.recent = append(m.recent, ts)
	if len(m.recent) >= 4*newestKept {
		m.recent = append(m.recent[:0], m.recent[len(m.recent)-newestKept:]...)
	}
}

func (m *MatchTruth) finish() {
	r := m.recent
	if len(r) > newestKept {
		r = r[len(r)-newestKept:]
	}
	m.Newest = make([]int64, len(r))
	for i, ts := range r {
		m.Newest[len(r)-1-i] = ts
	}
}

// generator writes the corpus line by line.
type generator struct {
	cfg     corpusConfig
	streams []streamDef
	cum     []float64
	rng     *rand.Rand
	base    int64 // ns; every line is after it
	step    int64 // ns between consecutive lines
	n       int64 // lines generated
	written int64 // bytes generated
	rareAt  []int64
	rare    string
	line    []byte
	truth   *Truth
}

func newGenerator(cfg corpusConfig) (*generator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := newRawGenerator(cfg, 1)
	// Estimate the line count from a sample of the same generator so the
	// timestamps fill the span; 3% headroom keeps the last line before End.
	sample := newRawGenerator(cfg, 1)
	var sampleBytes int64
	const sampleLines = 5000
	for range sampleLines {
		_, _, line := sample.next()
		sampleBytes += int64(len(line))
	}
	est := float64(cfg.Size) / (float64(sampleBytes) / sampleLines) * 1.03
	g.step = max(1, int64(float64(cfg.Span.Nanoseconds())/est))
	// The rare token: a trace ID found in a handful of lines spread evenly
	// over the corpus (one request that crossed several services).
	nRare := int64(min(20, max(3, est/50000)))
	for k := range nRare {
		g.rareAt = append(g.rareAt, int64((float64(k)+0.5)*est/float64(nRare)))
	}
	return g, nil
}

func newRawGenerator(cfg corpusConfig, step int64) *generator {
	g := &generator{
		cfg:     cfg,
		streams: makeStreams(cfg.Seed, cfg.Streams),
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0xc0ffee)),
		base:    cfg.End.Add(-cfg.Span).UnixNano(),
		step:    step,
		line:    make([]byte, 0, 1024),
	}
	var sum float64
	for _, s := range g.streams {
		sum += s.weight
		g.cum = append(g.cum, sum)
	}
	rr := rand.New(rand.NewPCG(cfg.Seed, 0x7a2e))
	g.rare = fmt.Sprintf("%016x%016x", rr.Uint64(), rr.Uint64())
	t := &Truth{
		Namespaces:        map[string]*Volume{},
		Levels:            map[string]int64{},
		JSONLevels:        map[string]int64{},
		Formats:           map[string]*Volume{},
		TimeoutApp:        map[string]int64{},
		Logfmt:            map[string]int64{"150ms": 0, "250ms": 0},
		LogfmtMaxDuration: map[string]float64{},
		Rare:              MatchTruth{Pattern: g.rare},
		Common:            MatchTruth{Pattern: commonWord},
		Regex:             MatchTruth{Pattern: regex5xx},
		JSON5xx:           MatchTruth{Pattern: "status >= 500"},
	}
	for _, s := range g.streams {
		t.Streams = append(t.Streams, StreamTruth{Labels: s.labelMap()})
		if t.Namespaces[s.Namespace] == nil {
			t.Namespaces[s.Namespace] = &Volume{}
		}
		if t.Formats[s.Format.String()] == nil {
			t.Formats[s.Format.String()] = &Volume{}
		}
	}
	g.truth = t
	return g
}

// done reports whether the corpus has reached its size.
func (g *generator) done() bool { return g.written >= g.cfg.Size }

// next generates one line: its stream, timestamp and text. The text is
// valid until the next call.
func (g *generator) next() (stream int, ts int64, line []byte) {
	i := g.n
	g.n++
	ts = g.base + (i+1)*g.step
	stream = g.pickStream()
	s := &g.streams[stream]
	trace := ""
	if len(g.rareAt) > 0 && g.rareAt[0] == i {
		g.rareAt = g.rareAt[1:]
		trace = g.rare
	}
	var li lineInfo
	g.line, li = g.appendLine(g.line[:0], s, ts, trace)
	g.count(stream, ts, g.line, li)
	g.written += int64(len(g.line))
	return stream, ts, g.line
}

func (g *generator) pickStream() int {
	x := g.rng.Float64() * g.cum[len(g.cum)-1]
	return min(sort.SearchFloat64s(g.cum, x), len(g.cum)-1)
}

// lineInfo is what the generator knows about a line beyond its text.
type lineInfo struct {
	level    string // "" for access logs
	status   int
	duration time.Duration
}

func (g *generator) count(stream int, ts int64, line []byte, li lineInfo) {
	t := g.truth
	s := &g.streams[stream]
	n := int64(len(line))
	if t.Lines == 0 {
		t.FirstTs = ts
	}
	t.LastTs = ts
	t.Lines++
	t.Bytes += n
	st := &t.Streams[stream].Volume
	st.Lines++
	st.Bytes += n
	ns := t.Namespaces[s.Namespace]
	ns.Lines++
	ns.Bytes += n
	f := t.Formats[s.Format.String()]
	f.Lines++
	f.Bytes += n
	if li.level != "" {
		t.Levels[li.level]++
	}
	switch s.Format {
	case formatJSON:
		t.JSONLevels[li.level]++
		if li.status >= 500 {
			t.JSON5xx.add(ts)
		}
	case formatLogfmt:
		if li.duration > 150*time.Millisecond {
			t.Logfmt["150ms"]++
		}
		if li.duration > 250*time.Millisecond {
			t.Logfmt["250ms"]++
		}
		// The line holds duration.String(), which parses back to the same
		// duration, so its seconds are what unwrap duration() yields.
		if d, ok := t.LogfmtMaxDuration[s.Namespace]; !ok || li.duration.Seconds() > d {
			t.LogfmtMaxDuration[s.Namespace] = li.duration.Seconds()
		}
	}
	// Text predicates are counted on the text itself, exactly as a query
	// evaluates them, so no accident of the vocabulary can skew them.
	if containsStr(line, g.rare) {
		t.Rare.add(ts)
	}
	if containsStr(line, commonWord) {
		t.Common.add(ts)
	}
	if containsStr(line, timeoutWord) {
		t.TimeoutApp[s.App]++
	}
	if maybe5xx(line) && re5xx.Match(line) {
		t.Regex.add(ts)
	}
}

func containsStr(b []byte, s string) bool {
	return strings.Contains(unsafe.String(unsafe.SliceData(b), len(b)), s)
}

// finish seals the truth after the last line.
func (g *generator) finish() *Truth {
	t := g.truth
	for _, m := range []*MatchTruth{&t.Rare, &t.Common, &t.Regex, &t.JSON5xx} {
		m.finish()
	}
	return t
}

var (
	levels      = [...]string{"info", "warn", "error", "debug"}
	msgsByLevel = map[string][]string{
		"info":  {"request completed", "order created", "cache refreshed", "user authenticated", "payment authorized", "item added to cart", "search served"},
		"debug": {"cache lookup", "query plan chosen", "feature flag evaluated"},
		"warn":  {"slow request", "retrying upstream call after timeout", "rate limit close to threshold", "deprecated API version used", "token expires soon"},
		"error": {"upstream timeout", "database connection refused", "failed to charge card", "unhandled error in handler", "context deadline exceeded"},
	}
	jobMsgs = map[string][]string{
		"info":  {"job finished", "batch committed", "message delivered"},
		"debug": {"lease renewed", "poll returned nothing"},
		"warn":  {"job slow", "retrying after timeout", "queue backlog growing"},
		"error": {"job failed: timeout talking to db", "job failed: connection reset", "message dropped: invalid payload"},
	}
	statusByLevel = map[string][]int{
		"info":  {200, 200, 200, 200, 201, 204, 304},
		"debug": {200},
		"warn":  {400, 401, 404, 409, 429},
		"error": {500, 502, 503, 504},
	}
	methods    = [...]string{"GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "POST", "POST", "POST", "PUT", "DELETE"}
	apiPaths   = [...]string{"/api/v1/orders/", "/api/v1/products/", "/api/v1/users/", "/api/v1/cart/", "/api/v1/search?q=item", "/api/v1/payments/"}
	jobs       = [...]string{"send-email", "sync-inventory", "reindex-search", "generate-invoice", "expire-sessions", "compact-ledger"}
	queues     = [...]string{"default", "critical", "bulk"}
	userAgents = [...]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
		"kube-probe/1.30",
		"Go-http-client/1.1",
	}
	referers = [...]string{"-", "https://shop.example.com/", "https://shop.example.com/cart", "https://www.google.com/"}
)

// pickLevel draws a level: info 80%, warn 12%, error 6%, debug 2%.
func (g *generator) pickLevel() string {
	switch p := g.rng.IntN(100); {
	case p < 80:
		return levels[0]
	case p < 92:
		return levels[1]
	case p < 98:
		return levels[2]
	default:
		return levels[3]
	}
}

// pickDuration draws a latency: mostly milliseconds, a long tail to
// seconds, never under 1ms (so it prints as ms or s).
func (g *generator) pickDuration(level string) time.Duration {
	mu := 3.0 // e^3 ~ 20ms
	if level == "warn" || level == "error" {
		mu = 5.0
	}
	ms := math.Exp(mu + g.rng.NormFloat64())
	us := max(int64(ms*1000), 1000)
	return time.Duration(us) * time.Microsecond
}

func (g *generator) appendTrace(b []byte, trace string) []byte {
	if trace != "" {
		return append(b, trace...)
	}
	const hexdigits = "0123456789abcdef"
	for range 2 {
		v := g.rng.Uint64()
		for range 16 {
			b = append(b, hexdigits[v&15])
			v >>= 4
		}
	}
	return b
}

func (g *generator) appendLine(b []byte, s *streamDef, ts int64, trace string) ([]byte, lineInfo) {
	t := time.Unix(0, ts).UTC()
	switch s.Format {
	case formatJSON:
		return g.appendJSON(b, t, trace)
	case formatAccess:
		return g.appendAccess(b, t, trace)
	default:
		return g.appendLogfmt(b, t, trace)
	}
}

func (g *generator) appendJSON(b []byte, t time.Time, trace string) ([]byte, lineInfo) {
	level := g.pickLevel()
	msgs := msgsByLevel[level]
	codes := statusByLevel[level]
	li := lineInfo{level: level, status: codes[g.rng.IntN(len(codes))], duration: g.pickDuration(level)}
	b = append(b, `{"ts":"`...)
	b = t.AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","level":"`...)
	b = append(b, level...)
	b = append(b, `","msg":"`...)
	b = append(b, msgs[g.rng.IntN(len(msgs))]...)
	b = append(b, `","trace_id":"`...)
	b = g.appendTrace(b, trace)
	b = append(b, `","method":"`...)
	b = append(b, methods[g.rng.IntN(len(methods))]...)
	b = append(b, `","path":"`...)
	b = append(b, apiPaths[g.rng.IntN(len(apiPaths))]...)
	b = strconv.AppendInt(b, int64(g.rng.IntN(100000)), 10)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(li.status), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendFloat(b, li.duration.Seconds(), 'f', 6, 64)
	b = append(b, `,"user":"user_`...)
	b = strconv.AppendInt(b, int64(g.rng.IntN(5000)), 10)
	b = append(b, `"}`...)
	return b, li
}

func (g *generator) appendAccess(b []byte, t time.Time, trace string) ([]byte, lineInfo) {
	var status int
	switch p := g.rng.IntN(100); {
	case p < 85:
		status = [...]int{200, 200, 200, 200, 201, 204}[g.rng.IntN(6)]
	case p < 90:
		status = [...]int{301, 302, 304}[g.rng.IntN(3)]
	case p < 97:
		status = [...]int{400, 401, 403, 404, 404, 429}[g.rng.IntN(6)]
	default:
		status = [...]int{500, 502, 503, 504}[g.rng.IntN(4)]
	}
	li := lineInfo{status: status, duration: g.pickDuration("info")}
	b = append(b, "10."...)
	b = strconv.AppendInt(b, int64(g.rng.IntN(256)), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(g.rng.IntN(256)), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(g.rng.IntN(256)), 10)
	b = append(b, " - - ["...)
	b = t.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, `] "`...)
	b = append(b, methods[g.rng.IntN(len(methods))]...)
	b = append(b, ' ')
	switch p := g.rng.IntN(10); {
	case p < 6:
		b = append(b, apiPaths[g.rng.IntN(len(apiPaths))]...)
		b = strconv.AppendInt(b, int64(g.rng.IntN(100000)), 10)
	case p < 9:
		b = append(b, "/static/js/app."...)
		b = strconv.AppendUint(b, uint64(g.rng.Uint32()), 16)
		b = append(b, ".js"...)
	default:
		b = append(b, "/healthz"...)
	}
	b = append(b, ` HTTP/1.1" `...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(200+g.rng.IntN(40000)), 10)
	b = append(b, ` "`...)
	b = append(b, referers[g.rng.IntN(len(referers))]...)
	b = append(b, `" "`...)
	b = append(b, userAgents[g.rng.IntN(len(userAgents))]...)
	b = append(b, `" `...)
	b = strconv.AppendFloat(b, li.duration.Seconds(), 'f', 3, 64)
	b = append(b, ' ')
	b = g.appendTrace(b, trace)
	return b, li
}

func (g *generator) appendLogfmt(b []byte, t time.Time, trace string) ([]byte, lineInfo) {
	level := g.pickLevel()
	msgs := jobMsgs[level]
	codes := statusByLevel[level]
	li := lineInfo{level: level, status: codes[g.rng.IntN(len(codes))], duration: g.pickDuration(level)}
	b = append(b, "ts="...)
	b = t.AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, " level="...)
	b = append(b, level...)
	b = append(b, ` msg="`...)
	b = append(b, msgs[g.rng.IntN(len(msgs))]...)
	b = append(b, `" job=`...)
	b = append(b, jobs[g.rng.IntN(len(jobs))]...)
	b = append(b, " queue="...)
	b = append(b, queues[g.rng.IntN(len(queues))]...)
	b = append(b, " duration="...)
	b = append(b, li.duration.String()...)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(li.status), 10)
	b = append(b, " attempt="...)
	b = strconv.AppendInt(b, int64(1+g.rng.IntN(3)), 10)
	b = append(b, " trace_id="...)
	b = g.appendTrace(b, trace)
	return b, li
}
