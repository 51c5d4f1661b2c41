package tail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/agent/positions"
)

// collector records lines and acknowledges them immediately unless hold.
type collector struct {
	mu      sync.Mutex
	lines   []string
	tickets []entry.Ticket
	hold    bool
}

func (c *collector) Line(b []byte, t entry.Ticket) {
	c.mu.Lock()
	c.lines = append(c.lines, string(b))
	if c.hold {
		c.tickets = append(c.tickets, t)
	}
	c.mu.Unlock()
	if !c.hold {
		t.Done()
	}
}

func (c *collector) Idle(time.Time) {}

func (c *collector) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

func (c *collector) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if l := c.get(); len(l) >= n {
			return l
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out: got %d lines %q, want %d", len(c.get()), c.get(), n)
	return nil
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

type run struct {
	cancel context.CancelFunc
	done   chan error
}

func startTailer(t *testing.T, cfg Config, h Handler) *run {
	t.Helper()
	if cfg.MinPoll == 0 {
		cfg.MinPoll, cfg.MaxPoll = 2*time.Millisecond, 10*time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cancel: cancel, done: make(chan error, 1)}
	tl := New(cfg)
	go func() { r.done <- tl.Run(ctx, h) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *run) stop(t *testing.T) error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("tailer did not stop")
	}
	return nil
}

func numbered(prefix string, from, to int) (string, []string) {
	var sb strings.Builder
	var want []string
	for i := from; i < to; i++ {
		l := fmt.Sprintf("%s %d", prefix, i)
		sb.WriteString(l + "\n")
		want = append(want, l)
	}
	return sb.String(), want
}

func equalLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines differ:\ngot  %q\nwant %q", got, want)
	}
}

func TestTailerFollowsAppendsAndWaitsForNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	appendFile(t, path, "one\ntwo\r\nthr")
	c := &collector{}
	startTailer(t, Config{Path: path}, c)
	c.waitFor(t, 2)
	time.Sleep(30 * time.Millisecond)
	equalLines(t, c.get(), []string{"one", "two"}) // "thr" is not a line yet
	appendFile(t, path, "ee\nfour\n")
	equalLines(t, c.waitFor(t, 4), []string{"one", "two", "three", "four"})
}

func TestTailerRotation(t *testing.T) {
	tests := []struct {
		name   string
		rotate func(t *testing.T, path string)
	}{
		{
			name: "rename and create reads the old file to its end first",
			rotate: func(t *testing.T, path string) {
				if err := os.Rename(path, path+".1"); err != nil {
					t.Fatal(err)
				}
				// The writer has not reopened yet: more lines land in the old file.
				s, _ := numbered("late", 0, 3)
				appendFile(t, path+".1", s)
				appendFile(t, path, "")
			},
		},
		{
			name: "copytruncate restarts from the beginning",
			rotate: func(t *testing.T, path string) {
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			first, want := numbered("before", 0, 50)
			appendFile(t, path, first)
			c := &collector{}
			startTailer(t, Config{Path: path}, c)
			c.waitFor(t, 50)
			tc.rotate(t, path)
			if strings.HasPrefix(tc.name, "rename") {
				_, late := numbered("late", 0, 3)
				want = append(want, late...)
				c.waitFor(t, len(want))
			} else {
				time.Sleep(50 * time.Millisecond) // let the tailer see the truncation
			}
			after, wantAfter := numbered("after", 0, 20)
			appendFile(t, path, after)
			want = append(want, wantAfter...)
			equalLines(t, c.waitFor(t, len(want)), want)
		})
	}
}

func TestTailerRotatedFileUnterminatedLastLineIsEmitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, "a\nno newline")
	c := &collector{}
	startTailer(t, Config{Path: path}, c)
	c.waitFor(t, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "b\n")
	equalLines(t, c.waitFor(t, 3), []string{"a", "no newline", "b"})
}

func TestTailerDeletedFileIsFinishedAndForgotten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gone.log")
	appendFile(t, path, "x\n")
	store, err := positions.Open(positions.Config{Filename: filepath.Join(dir, "pos.yaml")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	r := startTailer(t, Config{Path: path, Positions: store}, c)
	c.waitFor(t, 1)
	// Write more and delete before the tailer polls again.
	appendFile(t, path, "y\nz")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
		close(r.done)
	case <-time.After(5 * time.Second):
		t.Fatal("tailer did not finish a deleted file")
	}
	equalLines(t, c.get(), []string{"x", "y", "z"})
	if _, ok := store.Get(path); ok {
		t.Fatal("position of a deleted, fully acknowledged file is kept")
	}
}

func TestTailerTruncatesLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.log")
	long := strings.Repeat("x", 300_000)
	appendFile(t, path, "short\n"+long+"\nnext\n"+long[:100]+"\n")
	c := &collector{}
	startTailer(t, Config{Path: path, MaxLineSize: 100_000}, c)
	got := c.waitFor(t, 4)
	equalLines(t, got, []string{"short", long[:100_000], "next", long[:100]})
}

func TestTailerResumesFromPositions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	s, _ := numbered("l", 0, 10)
	appendFile(t, path, s)
	store, _ := positions.Open(positions.Config{Filename: filepath.Join(dir, "pos.yaml")}, nil)
	c := &collector{}
	r := startTailer(t, Config{Path: path, Positions: store}, c)
	c.waitFor(t, 10)
	r.stop(t)
	pos, _ := store.Get(path)
	if pos.Offset != int64(len(s)) {
		t.Fatalf("position %d, want %d", pos.Offset, len(s))
	}

	more, want := numbered("l", 10, 15)
	appendFile(t, path, more)
	c2 := &collector{}
	startTailer(t, Config{Path: path, Positions: store}, c2)
	c2.waitFor(t, 5)
	time.Sleep(20 * time.Millisecond)
	equalLines(t, c2.get(), want)
}

func TestTailerFinishesFileRotatedWhileStopped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	s, _ := numbered("old", 0, 5)
	appendFile(t, path, s)
	store, _ := positions.Open(positions.Config{Filename: filepath.Join(dir, "pos.yaml")}, nil)
	c := &collector{}
	r := startTailer(t, Config{Path: path, Positions: store}, c)
	c.waitFor(t, 5)
	r.stop(t)

	// While stopped: more lines in the old file, rotation, new file.
	more, want := numbered("old", 5, 8)
	appendFile(t, path, more)
	if err := os.Rename(path, path+".20261122-051400"); err != nil {
		t.Fatal(err)
	}
	newer, wantNew := numbered("new", 0, 4)
	appendFile(t, path, newer)
	want = append(want, wantNew...)

	c2 := &collector{}
	startTailer(t, Config{Path: path, Positions: store}, c2)
	equalLines(t, c2.waitFor(t, len(want)), want)
	fi, _ := os.Stat(path)
	id := identity(fi)
	deadline := time.Now().Add(2 * time.Second)
	for {
		p, _ := store.Get(path)
		if p == (positions.Position{Offset: fi.Size(), Dev: id.dev, Inode: id.ino}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("position %+v, want the new file's end %d inode %d", p, fi.Size(), id.ino)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTailerPositionWaitsForAcknowledgement(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "a\nbb\nccc\n")
	store, _ := positions.Open(positions.Config{Filename: filepath.Join(dir, "pos.yaml")}, nil)
	c := &collector{hold: true}
	startTailer(t, Config{Path: path, Positions: store}, c)
	c.waitFor(t, 3)
	c.mu.Lock()
	tk := append([]entry.Ticket(nil), c.tickets...)
	c.mu.Unlock()

	steps := []struct {
		ack  int
		want int64
	}{
		{ack: 1, want: -1}, // line 2 acked, line 1 not: nothing committed
		{ack: 0, want: 5},  // lines 1-2 acked: after "bb\n"
		{ack: 2, want: 9},
	}
	for _, st := range steps {
		tk[st.ack].Done()
		pos, ok := store.Get(path)
		got := int64(-1)
		if ok {
			got = pos.Offset
		}
		if got != st.want {
			t.Fatalf("after acking line %d: position %d, want %d", st.ack, got, st.want)
		}
	}
}

func TestTrackerMergedTicketCommitsWholeRange(t *testing.T) {
	store, _ := positions.Open(positions.Config{Filename: filepath.Join(t.TempDir(), "p")}, nil)
	tr := newTracker("/f", store)
	var tk []entry.Ticket
	for i := 1; i <= 4; i++ {
		tk = append(tk, entry.NewTicket(tr, tr.add(positions.Position{Offset: int64(10 * i)}, 1)))
	}
	merged := tk[0].Merge(tk[1]).Merge(tk[2])
	tk[3].Done()
	if _, ok := store.Get("/f"); ok {
		t.Fatal("committed before the merged lines were acknowledged")
	}
	merged.Done()
	if p, _ := store.Get("/f"); p.Offset != 40 {
		t.Fatalf("offset %d, want 40", p.Offset)
	}
	if tr.inFlight() != 0 {
		t.Fatalf("in flight %d, want 0", tr.inFlight())
	}
}

// idleProbe records, from the tailer's goroutine, whether the tailer held a
// read buffer while idle.
type idleProbe struct {
	collector
	tl                     *Tailer
	idleWithBuf, idleCalls int
}

func (p *idleProbe) Idle(time.Time) {
	p.mu.Lock()
	p.idleCalls++
	if p.tl.buf != nil {
		p.idleWithBuf++
	}
	p.mu.Unlock()
}

func TestTailerIdleFileHoldsNoBufferUnlessALineIsPending(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantBuf bool
	}{
		{name: "complete lines: buffer released", content: "a\nb\n", wantBuf: false},
		{name: "partial line pending: buffer kept", content: "a\npartial", wantBuf: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.log")
			appendFile(t, path, tc.content)
			tl := New(Config{Path: path, MinPoll: time.Millisecond, MaxPoll: 2 * time.Millisecond})
			p := &idleProbe{tl: tl}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- tl.Run(ctx, p) }()
			deadline := time.Now().Add(5 * time.Second)
			for {
				p.mu.Lock()
				n := p.idleCalls
				p.mu.Unlock()
				if n >= 3 || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := p.idleWithBuf > 0; got != tc.wantBuf {
				t.Fatalf("held a buffer while idle: %v, want %v", got, tc.wantBuf)
			}
		})
	}
}

func TestTailerLagIsUnacknowledgedBytesAndAgeOfOldestPendingLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "a\nbb\nccc\n") // 9 bytes
	store, _ := positions.Open(positions.Config{Filename: filepath.Join(dir, "pos.yaml")}, nil)
	store.Set(path, positions.Position{Offset: 2}) // "a\n" acknowledged by a previous run
	c := &collector{hold: true}
	tl := New(Config{Path: path, Positions: store, MinPoll: 2 * time.Millisecond, MaxPoll: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx, c) }()
	defer func() { cancel(); <-done }()

	if b, age := tl.Lag(time.Now()); b != 7 || age < 0 {
		t.Fatalf("before reading: lag %d bytes %v, want 7 bytes from the stored position", b, age)
	}
	c.waitFor(t, 2)
	time.Sleep(20 * time.Millisecond)
	b, age := tl.Lag(time.Now())
	if b != 7 || age < 20*time.Millisecond || age > time.Minute {
		t.Fatalf("read, not acknowledged: lag %d bytes %v, want 7 bytes and >= 20ms", b, age)
	}
	c.mu.Lock()
	tk := append([]entry.Ticket(nil), c.tickets...)
	c.mu.Unlock()
	tk[0].Done()
	if b, _ := tl.Lag(time.Now()); b != 4 {
		t.Fatalf("after acknowledging bb: lag %d bytes, want 4", b)
	}
	tk[1].Done()
	if b, age := tl.Lag(time.Now()); b != 0 || age != 0 {
		t.Fatalf("all acknowledged: lag %d bytes %v, want 0 and 0", b, age)
	}
	appendFile(t, path, "0123456789")
	if b, _ := tl.Lag(time.Now()); b != 10 {
		t.Fatalf("after an unterminated append: lag %d bytes, want 10", b)
	}
	// Replaced by a new file: the acknowledged position is in the old one.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "new\n")
	if b, _ := tl.Lag(time.Now()); b != 4 {
		t.Fatalf("after rotation: lag %d bytes, want the new file's 4", b)
	}
}

func TestTrackerMemoryFollowsLinesInFlightNotLinesRead(t *testing.T) {
	tests := []struct {
		name     string
		inFlight int
		maxCap   int
	}{
		{"acknowledged at once", 1, 256},
		{"ten in flight", 10, 256},
		{"a thousand in flight", 1000, 4096},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker("/f", nil)
			var pending []uint64
			peak := 0
			for i := range 100_000 {
				pending = append(pending, tr.add(positions.Position{Offset: int64(i)}, 1))
				if len(pending) > tc.inFlight {
					tr.Ack(pending[0], pending[0])
					pending = pending[1:]
				}
				peak = max(peak, cap(tr.items))
			}
			if peak > tc.maxCap {
				t.Fatalf("tracker grew to %d items with %d lines in flight", peak, tc.inFlight)
			}
			if tr.inFlight() != tc.inFlight {
				t.Fatalf("in flight %d, want %d", tr.inFlight(), tc.inFlight)
			}
		})
	}
}

func TestTrackerGivesBackTheCapacityOfABurst(t *testing.T) {
	tr := newTracker("/f", nil)
	var seqs []uint64
	for i := range 50_000 { // a burst: 50k lines in flight
		seqs = append(seqs, tr.add(positions.Position{Offset: int64(i)}, 1))
	}
	tr.Ack(seqs[0], seqs[len(seqs)-1]) // the burst is acknowledged
	for i := range 1000 {              // then a steady trickle
		s := tr.add(positions.Position{Offset: int64(50_000 + i)}, 1)
		tr.Ack(s, s)
	}
	if c := cap(tr.items); c > 256 {
		t.Fatalf("tracker keeps %d items of capacity after the burst drained", c)
	}
}

func TestTrackerShrinksABurstsSliceWhileLinesAreStillPending(t *testing.T) {
	tr := newTracker("/f", nil)
	var seqs []uint64
	for i := range 50_000 {
		seqs = append(seqs, tr.add(positions.Position{Offset: int64(i)}, 1))
	}
	tr.Ack(seqs[0], seqs[len(seqs)-101]) // all but the last 100
	if c := cap(tr.items); c > 4096 {
		t.Fatalf("tracker keeps %d items of capacity for 100 pending lines", c)
	}
	if tr.inFlight() != 100 {
		t.Fatalf("in flight %d, want 100", tr.inFlight())
	}
}
