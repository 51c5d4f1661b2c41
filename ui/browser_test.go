package ui_test

// The browser test drives the real plg binary and the real UI in headless
// Chromium: it is the specification of what a user can do on the Explore
// page. Screenshots of every step land in test-artifacts/ui/ (git-ignored)
// so a reviewer can see the page, light and dark.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// findChromium returns the browser to drive. In CI a missing browser is a
// failure (make test installs it); on a laptop it skips.
func findChromium(t *testing.T) string {
	t.Helper()
	want := chromiumPath
	if p := os.Getenv("CHROMIUM"); p != "" {
		want = p
	}
	if _, err := os.Stat(want); err == nil {
		return want
	}
	if os.Getenv("CHROMIUM") == "" {
		if p, err := exec.LookPath("chromium"); err == nil {
			return p
		}
	}
	msg := "headless Chromium not found at " + want + ": run ui/install-chromium.sh (Debian package chromium) or set CHROMIUM=/path/to/chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// server is a running plg binary in -mode=all.
type server struct {
	base   string
	tenant string // sent as X-Scope-OrgID on pushes when set
}

var startedRE = regexp.MustCompile(`msg="plg started".*http=([0-9.:\[\]]+)`)

// buildPLG compiles the binary under test from the working tree.
func buildPLG(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "plg")
	build := exec.Command("go", "build", "-o", bin, "./cmd/plg")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/plg: %v\n%s", err, out)
	}
	return bin
}

func startPLG(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	dir := t.TempDir()
	args = append([]string{"-mode=all", "-data.dir=" + filepath.Join(dir, "data"), "-http.addr=127.0.0.1:0"}, args...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start plg: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := startedRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var s *server
	select {
	case a := <-addr:
		s = &server{base: "http://" + a}
	case <-time.After(30 * time.Second):
		t.Fatal("plg did not log \"plg started\" within 30s")
	}
	// Started is not ready: the ingester may still replay its WAL.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(s.base + "/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("plg at %s not ready within 30s (last error %v)", s.base, err)
		}
	}
}

type stream struct {
	Stream map[string]string `json:"stream"`
	Values [][]any           `json:"values"` // [ns, line] or [ns, line, {structured metadata}]
}

func (s *server) push(t *testing.T, streams ...stream) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"streams": streams})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.base+"/loki/api/v1/push", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.tenant != "" {
		req.Header.Set("X-Scope-OrgID", s.tenant)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("push: %s: %s", res.Status, b)
	}
}

func ns(t time.Time) string { return fmt.Sprint(t.UnixNano()) }

const xssLine = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> & <b>bold</b>`

// corpus pushes the known data set and returns how many lines each app has.
func corpus(t *testing.T, s *server, now time.Time) map[string]int {
	levels := []string{"info", "info", "info", "warn", "error"}
	var checkout []stream
	for i, lvl := range []string{"info", "warn", "error"} {
		st := stream{Stream: map[string]string{"app": "checkout", "level": lvl, "namespace": "shop"}}
		for j := 0; j < 10*(3-i); j++ {
			ts := now.Add(-time.Duration(j*90+i*7) * time.Second)
			st.Values = append(st.Values, []any{ns(ts), fmt.Sprintf(`level=%s msg="order %d handled" order_id=%d duration=%dms`, lvl, j, 1000+j, 10+j)})
		}
		checkout = append(checkout, st)
	}
	pay := stream{Stream: map[string]string{"app": "payments", "level": "error", "namespace": "shop"}}
	for j := 0; j < 8; j++ {
		pay.Values = append(pay.Values, []any{ns(now.Add(-time.Duration(j*200+3) * time.Second)), fmt.Sprintf(`{"level":"error","msg":"card declined","user":"u%d"}`, 40+j%2),
			map[string]string{"trace_id": fmt.Sprintf("t-%d", j)}})
	}
	web := stream{Stream: map[string]string{"app": "web", "level": "info", "namespace": "edge"}}
	web.Values = [][]any{{ns(now.Add(-30 * time.Second)), xssLine}}
	bulk := stream{Stream: map[string]string{"app": "bulk", "namespace": "load"}}
	for j := 0; j < 5000; j++ {
		bulk.Values = append(bulk.Values, []any{ns(now.Add(-time.Duration(j)*500*time.Millisecond - time.Second)),
			fmt.Sprintf(`level=%s ts=%d component=bulk-generator request_id=%08x msg="synthetic line %d for the virtual list" path=/api/v1/items/%d`, levels[j%5], j, j*7919, j, j%97)})
	}
	s.push(t, append(checkout, pay, web, bulk)...)
	return map[string]int{"checkout": 60, "payments": 8, "web": 1, "bulk": 5000}
}

// browser runs one Chromium for the whole test.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // screenshots
	n   int
}

func newBrowser(t *testing.T, exe string) *browser {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int]("1")); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	dir := filepath.Join("..", "test-artifacts", "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, dir: dir}
}

// do runs steps with a per-step deadline so a broken page fails fast.
func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot(t, "failure")
		t.Fatalf("browser: %v (page error box: %q)", err, evalJS[string](t, b, `document.getElementById('error')?.hidden ? '' : document.getElementById('error')?.textContent || ''`))
	}
}

func evalJS[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls until expr is truthy.
func (b *browser) waitJS(t *testing.T, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	poll := chromedp.Poll[bool](`!!(`+expr+`)`, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))
	_, err := chromedp.Run(ctx, poll)
	// A navigation that is still settling replaces the JS context under
	// the poll; poll again in the new one.
	for i := 0; i < 3 && err != nil && strings.Contains(err.Error(), "context"); i++ {
		time.Sleep(100 * time.Millisecond)
		_, err = chromedp.Run(ctx, poll)
	}
	if err != nil {
		b.shot(t, "failure")
		errBox := evalJS[string](t, b, `document.getElementById('error')?.hidden ? '' : document.getElementById('error')?.textContent || ''`)
		t.Fatalf("waiting for %s: %v (page error box: %q)", what, err, errBox)
	}
}

func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.n++
	p := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

func (b *browser) open(t *testing.T, base string, params url.Values) {
	t.Helper()
	b.do(t, chromedp.Navigate(base+"/?"+params.Encode()))
	b.waitJS(t, "the page script", `window.__plg`)
}

// setQuery replaces the editor text as typing would, then runs it with
// Ctrl+Enter.
func (b *browser) runQuery(t *testing.T, q string) int {
	t.Helper()
	before := evalJS[int](t, b, `window.__plg.runs`)
	b.do(t,
		chromedp.SetValue(chromedp.CSS(".editor-input"), q),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('.editor-input').dispatchEvent(new Event('input'))`),
		chromedp.Focus(chromedp.CSS(".editor-input")),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
	)
	b.waitJS(t, "the query to run", fmt.Sprintf(`window.__plg.runs > %d && document.getElementById('run').disabled === false`, before))
	return before + 1
}

func TestExploreInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	exe := findChromium(t)
	bin := buildPLG(t)
	srv := startPLG(t, bin)
	now := time.Now()
	counts := corpus(t, srv, now)
	b := newBrowser(t, exe)
	lightDark := func(t *testing.T, name string) {
		b.shot(t, name+"-light")
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
			t.Fatal(err)
		}
		evalJS[bool](t, b, `new Promise(r => requestAnimationFrame(() => { window.dispatchEvent(new Event('resize')); requestAnimationFrame(() => r(true)); }))`)
		b.shot(t, name+"-dark")
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("JS helpers parse times and queries like the server", func(t *testing.T) {
		b.open(t, srv.base, url.Values{})
		cases := []struct{ expr, want string }{
			{`m.time.parseTime('now-1h', 1e12)`, `999996400000`},
			{`m.time.parseTime('now', 5)`, `5`},
			{`m.time.parseTime('2024-05-01T10:00:00Z')`, `1714557600000`},
			{`m.time.parseTime('1714557600')`, `1714557600000`},
			{`m.time.parseTime('1714557600.5')`, `1714557600500`},
			{`m.time.parseTime('1714557600000000000')`, `1714557600000`},
			{`Number.isNaN(m.time.parseTime('yesterday'))`, `true`},
			{`m.time.parseDuration('1h30m')`, `5400000`},
			{`m.time.nsAdd('1714557600000000000', 1)`, `"1714557600000000001"`},
			{`m.logql.isLogQuery(' {app="x"} |= "a"')`, `true`},
			{`m.logql.isLogQuery('sum(rate({app="x"}[1m]))')`, `false`},
			{`m.logql.addMatcher('{app="x"} |= "a"', 'level', '!=', 'error', true)`, `"{app=\"x\", level!=\"error\"} |= \"a\""`},
			{`m.logql.addMatcher('{app="x"} | json', 'user', '=', 'u"1', false)`, `"{app=\"x\"} | json | user=\"u\\\"1\""`},
			{`m.logql.addMatcher('sum(rate({app="x"}[1m]))', 'level', '=', 'info', true)`, `"sum(rate({app=\"x\", level=\"info\"}[1m]))"`},
			{`m.logql.completionContext('{app="x", na', 12)`, `{"kind":"label","prefix":"na","from":10}`},
			{`m.logql.completionContext('{app="ch', 8)`, `{"kind":"value","label":"app","prefix":"ch","from":5}`},
			{`m.logql.completionContext('{app="x"} | js', 14)`, `{"kind":"stage","prefix":"js","from":12}`},
			{`m.logql.completionContext('sum by (le', 10)`, `{"kind":"label","prefix":"le","from":8}`},
			{`m.logql.highlightRanges('an error and ERROR', m.logql.filterTerms('{a="b"} |= "error" |~ "(?i)and"'))`, `[[3,8],[9,12]]`},
			{`m.logql.volumeQuery('{a="b"} # note', 60)`, `"sum by (level, detected_level) (count_over_time({a=\"b\"} [60s]))"`},
			{`m.entries.toEntries([{stream: {a: '1'}, values: [['5', 'old'], ['10000000000000000000', 'new', {structuredMetadata: {t: 'x'}, parsed: {p: 'y'}}]]}]).map(e => [e.line, e.meta, e.parsed])`, `[["new",{"t":"x"},{"p":"y"}],["old",null,null]]`},
			{`m.entries.parseTailFrame('{"streams":[{"stream":{"a":"1"},"values":[["1","x"]]}],"dropped_entries":[{"labels":"{}","timestamp":"1"},{"labels":"{}","timestamp":"2"}]}').dropped`, `2`},
			{`m.entries.parseTailFrame('{"streams":[],"dropped_entries":null}')`, `{"entries":[],"dropped":0}`},
			{`m.entries.parseTailFrame('not json')`, `null`},
			{`m.entries.commonLabels([{stream: {app: 'a', ns: 'x', pod: '1'}}, {stream: {app: 'a', ns: 'y', pod: '2'}}, {stream: {app: 'a', pod: '3'}}])`, `{"app":"a"}`},
			{`m.entries.uniqueLabels({app: 'a', level: 'info'}, {app: 'a'})`, `{"level":"info"}`},
			{`m.api.explain(429, 'max entries limit per query exceeded')`, `"A limit was hit: max entries limit per query exceeded. Narrow the time range or the selector, or lower the line limit."`},
			{`m.api.explain(504, 'query timed out after 1m0s')`, `"The query timed out: query timed out after 1m0s"`},
			{`m.api.explain(500, '{"message":"store unavailable"}')`, `"The server failed (500): store unavailable"`},
			{`m.api.parsePosition('parse error at line 2, col 14: syntax error')`, `{"line":2,"col":14}`},
		}
		js := `(async () => { const m = { time: await import('/js/time.js'), logql: await import('/js/logql.js'), entries: await import('/js/entries.js'), api: await import('/js/api.js') }; return JSON.stringify(%s); })()`
		for _, c := range cases {
			got := evalJS[string](t, b, fmt.Sprintf(js, c.expr))
			if got != c.want {
				t.Errorf("%s = %s, want %s", c.expr, got, c.want)
			}
		}
	})

	t.Run("a shared link runs its query: lines newest first and a level histogram", func(t *testing.T) {
		b.open(t, srv.base, url.Values{"query": {`{app="checkout"} |= "handled"`}, "from": {"now-1h"}, "to": {"now"}})
		b.waitJS(t, "log rows", `document.querySelectorAll('.log-row').length > 0`)
		if got := evalJS[int](t, b, `window.__plg.renders.at(-1).lines`); got != counts["checkout"] {
			t.Errorf("rendered %d lines, want %d", got, counts["checkout"])
		}
		first := evalJS[string](t, b, `document.querySelector('.log-row .log-line').textContent`)
		if !strings.Contains(first, `order 0 handled`) {
			t.Errorf("first line %q is not the newest (order 0)", first)
		}
		if n := evalJS[int](t, b, `document.querySelectorAll('.log-row mark').length`); n == 0 {
			t.Error("filter term \"handled\" is not highlighted")
		}
		// app and namespace are the same on every stream: shown once, not per row.
		if got := evalJS[string](t, b, `document.querySelector('.log-row .log-labels').textContent`); got != "level=info" {
			t.Errorf("row labels = %q, want only the label that differs (level=info)", got)
		}
		if st := evalJS[string](t, b, `document.getElementById('status').textContent`); !strings.Contains(st, "common labels: app=checkout namespace=shop") {
			t.Errorf("status = %q, want the common labels", st)
		}
		b.waitJS(t, "histogram legend", `document.querySelectorAll('#legend-hist .legend-item').length === 3`)
		legend := evalJS[string](t, b, `[...document.querySelectorAll('#legend-hist .legend-item')].map(e => e.textContent).join(',')`)
		if legend != "error,warn,info" {
			t.Errorf("histogram legend = %q, want error,warn,info", legend)
		}
		if total := evalJS[float64](t, b, `(async () => { const c = document.querySelector('#histogram canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i+3] > 200 && Math.abs(d[i] - d[i+1]) > 60) n++; return n; })()`); total < 50 {
			t.Errorf("histogram canvas has %v coloured pixels, want bars", total)
		}
		lightDark(t, "logs")
	})

	t.Run("dragging across the histogram zooms the time range", func(t *testing.T) {
		box := evalJS[[]float64](t, b, `(() => { const r = document.querySelector('#histogram canvas').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
		y := box[1] + box[3]/2
		x0, x1 := box[0]+box[2]*0.5, box[0]+box[2]*0.9
		b.do(t,
			chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x0, y, chromedp.Button("left")),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, (x0+x1)/2, y, chromedp.Button("left")),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x1, y, chromedp.Button("left")),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x1, y, chromedp.Button("left")),
		)
		b.waitJS(t, "absolute range in the URL", `/from=\d{4}-/.test(location.search)`)
		from := evalJS[string](t, b, `document.getElementById('from').value`)
		if _, err := time.Parse(time.RFC3339, from); err != nil {
			t.Errorf("from after zoom = %q, want RFC3339: %v", from, err)
		}
		if p := evalJS[string](t, b, `document.getElementById('preset').value`); p != "custom" {
			t.Errorf("preset after zoom = %q, want custom", p)
		}
		b.waitJS(t, "zoomed result", `document.getElementById('run').disabled === false && window.__plg.renders.length >= 2`)
		if got := evalJS[int](t, b, `window.__plg.renders.at(-1).lines`); got <= 0 || got >= counts["checkout"] {
			t.Errorf("zoomed into the newer half: %d lines, want fewer than %d and more than 0", got, counts["checkout"])
		}
		b.shot(t, "zoomed")
	})

	t.Run("autocomplete offers label names and values from the API", func(t *testing.T) {
		b.open(t, srv.base, url.Values{})
		b.do(t, chromedp.Click(chromedp.CSS(".editor-input")), chromedp.KeyEvent(`{ap`))
		b.waitJS(t, "label name completion", `[...document.querySelectorAll('.completions li')].some(li => li.textContent === 'app')`)
		b.do(t, chromedp.KeyEvent("\r"), chromedp.KeyEvent(`="pay`))
		b.waitJS(t, "label value completion", `[...document.querySelectorAll('.completions:not([hidden]) li')].some(li => li.textContent === 'payments')`)
		b.shot(t, "autocomplete")
		b.do(t, chromedp.KeyEvent("\t"), chromedp.KeyEvent("}"))
		if got := evalJS[string](t, b, `document.querySelector('.editor-input').value`); got != `{app="payments"}` {
			t.Errorf("editor after completions = %q, want {app=\"payments\"}", got)
		}
		if n := evalJS[int](t, b, `document.querySelectorAll('.editor-hl .tok-label, .editor-hl .tok-string').length`); n != 2 {
			t.Errorf("highlighted label+string tokens = %d, want 2", n)
		}
	})

	t.Run("a parse error is marked inline before running and explained after", func(t *testing.T) {
		b.do(t,
			chromedp.SetValue(chromedp.CSS(".editor-input"), `{app="checkout"} |= `),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('.editor-input').dispatchEvent(new Event('input'))`),
		)
		b.waitJS(t, "inline parse error", `document.getElementById('editor-msg').textContent.includes('parse error') && document.querySelector('.editor-hl .tok-error')`)
		b.shot(t, "parse-error-inline")
		b.runQuery(t, `{app=}`)
		b.waitJS(t, "error box", `!document.getElementById('error').hidden`)
		msg := evalJS[string](t, b, `document.getElementById('error').textContent`)
		if !strings.Contains(msg, "not valid LogQL") || !strings.Contains(msg, "line 1, col") {
			t.Errorf("error box = %q, want a plain explanation with the position", msg)
		}
		lightDark(t, "parse-error")
	})

	t.Run("metric query draws a chart with a legend and a table", func(t *testing.T) {
		b.runQuery(t, `sum by (level) (count_over_time({app="checkout"}[5m]))`)
		b.waitJS(t, "metric panel", `!document.getElementById('metric-panel').hidden`)
		legend := evalJS[[]string](t, b, `[...document.querySelectorAll('#legend .legend-item')].map(e => e.textContent).sort()`)
		want := []string{`{level="error"}`, `{level="info"}`, `{level="warn"}`}
		if strings.Join(legend, " ") != strings.Join(want, " ") {
			t.Errorf("legend = %q, want %q", legend, want)
		}
		if px := evalJS[float64](t, b, `(() => { const c = document.querySelector('#chart canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i+3] > 200 && Math.abs(d[i] - d[i+2]) > 60) n++; return n; })()`); px < 50 {
			t.Errorf("chart canvas has %v coloured pixels, want lines", px)
		}
		// Hovering shows the values at that time.
		box := evalJS[[]float64](t, b, `(() => { const r = document.querySelector('#chart canvas').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
		b.do(t, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0]+box[2]-20, box[1]+box[3]/2))
		b.waitJS(t, "hover read-out", `!document.querySelector('#chart .plot-tip').hidden && document.querySelector('#chart .plot-tip').textContent.includes('level=')`)
		lightDark(t, "metric-chart")
		b.do(t, chromedp.Click(chromedp.ID("view-table")))
		if rows := evalJS[int](t, b, `document.querySelectorAll('#table tbody tr').length`); rows != 3 {
			t.Errorf("table rows = %d, want 3", rows)
		}
		if !strings.Contains(evalJS[string](t, b, `location.search`), "view=table") {
			t.Error("table view is not kept in the URL")
		}
		b.shot(t, "metric-table")
		b.do(t, chromedp.Click(chromedp.ID("view-chart")))
	})

	t.Run("label browser composes a selector with stream counts", func(t *testing.T) {
		b.open(t, srv.base, url.Values{})
		b.do(t, chromedp.Click(chromedp.ID("browse")))
		b.waitJS(t, "label names", `document.querySelector('.chip[data-label="app"]')`)
		b.do(t, chromedp.Click(chromedp.CSS(`.chip[data-label="app"]`)))
		b.waitJS(t, "values with counts", `document.querySelector('.value[data-value="checkout"] .value-count')`)
		if c := evalJS[string](t, b, `document.querySelector('.value[data-value="checkout"] .value-count').textContent`); c != "3 streams" {
			t.Errorf("checkout count = %q, want \"3 streams\"", c)
		}
		b.do(t, chromedp.Click(chromedp.CSS(`.value[data-value="payments"]`)))
		if sel := evalJS[string](t, b, `document.querySelector('[data-selector]').textContent`); sel != `{app="payments"}` {
			t.Errorf("composed selector = %q", sel)
		}
		lightDark(t, "label-browser")
		b.do(t, chromedp.Click(chromedp.CSS(`[data-run]`)))
		b.waitJS(t, "payments lines", `window.__plg.renders.length && window.__plg.renders.at(-1).lines === 8`)
		if q := evalJS[string](t, b, `document.querySelector('.editor-input').value`); q != `{app="payments"}` {
			t.Errorf("editor = %q, want the composed selector", q)
		}
	})

	t.Run("expanding a line shows labels and parsed fields and adds filters", func(t *testing.T) {
		b.do(t, chromedp.Click(chromedp.CSS(`.log-row .log-head`)))
		b.waitJS(t, "details", `document.querySelector('.log-details')`)
		keys := evalJS[string](t, b, `[...document.querySelectorAll('.log-details .field-key')].map(e => e.textContent).join(',')`)
		if keys != "app,level,namespace,service_name,trace_id,level,msg,user" {
			t.Errorf("detail keys = %q, want stream labels, structured metadata, then the line's JSON fields", keys)
		}
		lightDark(t, "expanded")
		// "-" on the stream label namespace excludes it: no payments line remains.
		b.do(t, chromedp.Click(chromedp.CSS(`.log-details tr:nth-child(3) .icon-btn:nth-child(2)`)))
		b.waitJS(t, "filtered query", `document.querySelector('.editor-input').value === '{app="payments", namespace!="shop"}' && window.__plg.renders.at(-1).lines === 0`)
		// "+" on a parsed field adds a parser and a label filter.
		b.do(t, chromedp.NavigateBack())
		b.waitJS(t, "back to payments", `document.querySelector('.editor-input').value === '{app="payments"}' && window.__plg.renders.at(-1)?.lines === 8`)
		b.do(t, chromedp.Click(chromedp.CSS(`.log-row .log-head`)))
		b.waitJS(t, "details", `document.querySelector('.log-details')`)
		b.do(t, chromedp.Click(chromedp.CSS(`.log-details table:last-of-type tr:nth-child(3) .icon-btn`)))
		b.waitJS(t, "parsed-field filter", `/\| json \| user="u4[01]"$/.test(document.querySelector('.editor-input').value) && window.__plg.renders.at(-1).lines === 4`)
		// With a parser in the query the server returns the parsed labels
		// apart from the stream's (categorize-labels).
		b.do(t, chromedp.Click(chromedp.CSS(`.log-row .log-head`)))
		b.waitJS(t, "details", `document.querySelector('.log-details')`)
		sections := evalJS[string](t, b, `[...document.querySelectorAll('.log-details .log-section')].map(e => e.textContent).join('|')`)
		if !strings.Contains(sections, "Structured metadata") || !strings.Contains(sections, "Parsed labels") {
			t.Errorf("sections = %q, want structured metadata and the server's parsed labels", sections)
		}
		b.shot(t, "field-filter")
		// "+" on structured metadata narrows to that one trace.
		b.do(t, chromedp.Click(chromedp.CSS(`.log-details table:nth-of-type(2) .icon-btn`)))
		b.waitJS(t, "metadata filter", `/\| trace_id="t-\d"$/.test(document.querySelector('.editor-input').value) && window.__plg.renders.at(-1).lines === 1`)
	})

	t.Run("lines with markup render as text and run nothing", func(t *testing.T) {
		b.open(t, srv.base, url.Values{"query": {`{app="web"}`}})
		b.waitJS(t, "web line", `document.querySelector('.log-row .log-line')`)
		b.do(t, chromedp.Click(chromedp.CSS(`.log-row .log-head`)))
		b.waitJS(t, "details", `document.querySelector('.log-details')`)
		if got := evalJS[string](t, b, `document.querySelector('.log-row .log-line').textContent`); got != xssLine {
			t.Errorf("line text = %q, want the raw characters %q", got, xssLine)
		}
		if n := evalJS[int](t, b, `document.querySelectorAll('#logs img, #logs script, #logs b').length`); n != 0 {
			t.Errorf("%d elements were created from a log line", n)
		}
		if v := evalJS[string](t, b, `String(window.__xss)`); v != "undefined" {
			t.Errorf("window.__xss = %s: markup in a log line ran", v)
		}
		b.shot(t, "xss-as-text")
	})

	t.Run("five thousand lines render virtualized and load older pages", func(t *testing.T) {
		b.open(t, srv.base, url.Values{"query": {`{app="bulk"}`}, "limit": {"5000"}})
		b.waitJS(t, "bulk render", `window.__plg.renders.length && window.__plg.renders.at(-1).lines === 5000`)
		ms := evalJS[float64](t, b, `window.__plg.renders.at(-1).ms`)
		t.Logf("rendered 5000 lines in %.1f ms (performance.now() around entry building and layout)", ms)
		if rows := evalJS[int](t, b, `document.querySelectorAll('.log-row').length`); rows > 200 {
			t.Errorf("%d rows in the DOM for 5000 lines: the list is not virtualized", rows)
		}
		// Scroll through the whole list in 100 jumps, one per frame, and time
		// the frames (logged for the record, not asserted: machines differ).
		frame := evalJS[[]float64](t, b, `(async () => {
			const l = document.getElementById('logs'), v = window.__plg.logview, h = l.scrollHeight, raf = () => new Promise(r => requestAnimationFrame(r));
			await raf(); const t0 = performance.now(), ms0 = v.renderMs, n0 = v.renders;
			for (let i = 1; i <= 100; i++) { l.scrollTop = h * i / 100; await raf(); }
			return [(performance.now() - t0) / 100, (v.renderMs - ms0) / Math.max(1, v.renders - n0)]; })()`)
		t.Logf("scrolling 5000 lines in 100 jumps: %.1f ms per frame, %.2f ms of it placing rows", frame[0], frame[1])
		if rows := evalJS[int](t, b, `document.querySelectorAll('.log-row').length`); rows > 200 {
			t.Errorf("%d rows in the DOM after scrolling: rows are not recycled", rows)
		}
		last := evalJS[string](t, b, `[...document.querySelectorAll('.log-row .log-line')].map(e => e.textContent).find(t => t.includes('synthetic line 4999 ')) || ''`)
		if last == "" {
			t.Error("scrolling to the end does not show the oldest line (4999)")
		}
		b.shot(t, "bulk-scrolled")
		b.open(t, srv.base, url.Values{"query": {`{app="bulk"}`}, "limit": {"100"}})
		b.waitJS(t, "first page", `window.__plg.renders.length && window.__plg.renders.at(-1).lines === 100 && !document.getElementById('older').hidden`)
		b.do(t, chromedp.Click(chromedp.ID("older")))
		b.waitJS(t, "second page", `document.getElementById('status').textContent.startsWith('200 lines')`)
		oldest := evalJS[string](t, b, `(async () => { const l = document.getElementById('logs'); l.scrollTop = l.scrollHeight; await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); const t = [...document.querySelectorAll('.log-line')].map(e => e.textContent); return t.find(x => x.includes('synthetic line 199 ')) || ''; })()`)
		if oldest == "" {
			t.Error("load older did not bring lines 100..199")
		}
	})

	t.Run("live tail streams a newly pushed line to the top", func(t *testing.T) {
		b.open(t, srv.base, url.Values{"query": {`{app="tail"}`}})
		b.do(t, chromedp.Click(chromedp.ID("live")))
		b.waitJS(t, "tail connected", `document.getElementById('tail-state').textContent.includes('live')`)
		if !strings.Contains(evalJS[string](t, b, `location.search`), "mode=tail") {
			t.Error("tail mode is not kept in the URL")
		}
		mark := fmt.Sprintf("tail-line-%d", time.Now().UnixNano())
		srv.push(t, stream{Stream: map[string]string{"app": "tail", "level": "warn"}, Values: [][]any{{ns(time.Now()), mark + " first"}}})
		b.waitJS(t, "tailed line", fmt.Sprintf(`document.querySelector('.log-row .log-line')?.textContent === %q`, mark+" first"))
		b.do(t, chromedp.Click(chromedp.ID("pause")))
		srv.push(t, stream{Stream: map[string]string{"app": "tail", "level": "info"}, Values: [][]any{{ns(time.Now()), mark + " second"}}})
		b.waitJS(t, "paused counter", `document.getElementById('tail-state').textContent.includes('1 new')`)
		if got := evalJS[string](t, b, `document.querySelector('.log-row .log-line').textContent`); got != mark+" first" {
			t.Errorf("while paused the top line changed to %q", got)
		}
		b.do(t, chromedp.Click(chromedp.ID("pause")))
		b.waitJS(t, "resumed", fmt.Sprintf(`document.querySelector('.log-row .log-line')?.textContent === %q`, mark+" second"))
		lightDark(t, "live-tail")
		b.do(t, chromedp.Click(chromedp.ID("live")))
	})

	t.Run("auto refresh reruns the query", func(t *testing.T) {
		b.open(t, srv.base, url.Values{"query": {`{app="checkout"}`}})
		b.waitJS(t, "first run", `window.__plg.renders.length === 1`)
		b.do(t,
			chromedp.SetValue(chromedp.ID("auto"), "5"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('auto').dispatchEvent(new Event('change'))`),
		)
		b.waitJS(t, "a refresh within 5s", `window.__plg.renders.length >= 2`)
		b.do(t,
			chromedp.SetValue(chromedp.ID("auto"), "0"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('auto').dispatchEvent(new Event('change'))`),
		)
	})

	t.Run("the tenant field sets X-Scope-OrgID and a missing tenant is explained", func(t *testing.T) {
		multi := startPLG(t, bin, "-auth.enabled=true")
		multi.tenant = "team-a"
		multi.push(t, stream{Stream: map[string]string{"app": "tenanted"}, Values: [][]any{{ns(time.Now()), "only team-a sees this"}}})
		b.open(t, multi.base, url.Values{"query": {`{app="tenanted"}`}})
		b.waitJS(t, "tenant error", `!document.getElementById('error').hidden`)
		if msg := evalJS[string](t, b, `document.getElementById('error').textContent`); !strings.Contains(msg, "needs a tenant") {
			t.Errorf("error box = %q, want a plain explanation that a tenant is needed", msg)
		}
		b.shot(t, "tenant-missing")
		b.do(t,
			chromedp.SetValue(chromedp.ID("tenant"), "team-a"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('tenant').dispatchEvent(new Event('change'))`),
			chromedp.Click(chromedp.ID("run")),
		)
		b.waitJS(t, "tenant's line", `window.__plg.renders.length && window.__plg.renders.at(-1).lines === 1 && document.getElementById('error').hidden`)
		if got := evalJS[string](t, b, `document.querySelector('.log-row .log-line').textContent`); got != "only team-a sees this" {
			t.Errorf("line = %q", got)
		}
		b.shot(t, "tenant-set")
	})
}
