package ingester

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/plgstack/plg/push"
)

// memTestConfig has a 1 MiB chunk memory budget and small blocks, so a few
// MiB pushed over 40 streams cross the budget many times while no chunk
// fills up.
func memTestConfig() Config {
	cfg := testConfig()
	cfg.MaxChunkMemoryMB = 1
	cfg.ChunkBlockSize = 4 << 10
	cfg.ChunkTargetSize = 1 << 20
	cfg.WAL.Enabled = false
	// The budgets below are worked out from block bytes alone; n-gram
	// filters over these random hex lines would add about a fifth.
	cfg.ChunkNgramBitsPerGram = 0
	return cfg
}

// readyIngester returns an ingester that accepts pushes but runs no flush
// loop, so a test decides when flush cycles run and can see the memory
// pressure signal.
func readyIngester(t *testing.T, cfg Config, st ChunkStore, reg prometheus.Registerer) *Ingester {
	t.Helper()
	ing, err := New(cfg, nil, st, t.TempDir(), slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	ing.ready.Store(true)
	return ing
}

// hexLine returns a line that compresses about 2:1, like real logs do at
// best, so compressed blocks take memory.
func hexLine(r *rand.Rand, stream, n int) string {
	b := make([]byte, 0, 120)
	b = fmt.Appendf(b, "s%d n%d ", stream, n)
	for len(b) < 100 {
		b = fmt.Appendf(b, "%016x", r.Uint64())
	}
	return string(b)
}

func multiset(lines []string) map[string]int {
	m := make(map[string]int, len(lines))
	for _, l := range lines {
		m[l]++
	}
	return m
}

func TestMemoryBudgetFlushesLargestChunksEarlyAndLosesNothing(t *testing.T) {
	for _, retain := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprintf("retain=%s", retain), func(t *testing.T) {
			cfg := memTestConfig()
			cfg.ChunkRetainPeriod = retain
			st := newFakeStore()
			ing := readyIngester(t, cfg, st, nil)
			ctx := context.Background()
			budget := ing.memBudget
			// One chunk of slack: a head block's arena (twice the block
			// size at most) plus what one push adds to a stream.
			slack := int64(2*cfg.ChunkBlockSize + 8<<10)
			r := rand.New(rand.NewPCG(1, 2))
			now := time.Now().Add(-time.Hour)
			var pushed []string
			const streams, rounds, perPush = 40, 60, 20
			memFlushes := 0
			for round := 0; round < rounds; round++ {
				var ss []push.Stream
				for s := 0; s < streams; s++ {
					var es []push.Entry
					for k := 0; k < perPush; k++ {
						line := hexLine(r, s, round*perPush+k)
						es = append(es, entry(now.Add(time.Duration(round*perPush+k)*time.Millisecond), line))
						pushed = append(pushed, line)
					}
					ss = append(ss, pstream(fmt.Sprintf(`{job="j%d"}`, s), es...))
				}
				if err := ing.Push(ctx, "fake", req(ss...)); err != nil {
					t.Fatal(err)
				}
				over := ing.mem.unflushed.Load() > budget
				select {
				case <-ing.memPressure:
					if !over {
						t.Fatalf("round %d: memory pressure signalled at %d bytes, under the budget %d", round, ing.mem.unflushed.Load(), budget)
					}
				default:
					if over {
						t.Fatalf("round %d: %d bytes over the budget %d and no memory pressure signal", round, ing.mem.unflushed.Load(), budget)
					}
				}
				// Queryable before the flush: memory holds what the store
				// does not.
				checkNothingLost(t, ing, st, pushed, retain)
				if over {
					memFlushes++
					if err := ing.flush(ctx, false, false); err != nil {
						t.Fatal(err)
					}
					if got := ing.mem.unflushed.Load(); got > budget*3/4+slack {
						t.Fatalf("round %d: %d bytes unflushed after a memory flush, want <= 3/4 of %d + %d", round, got, budget, slack)
					}
					checkNothingLost(t, ing, st, pushed, retain)
				}
				if got := ing.mem.unflushed.Load(); got > budget+slack {
					t.Fatalf("round %d: %d bytes unflushed, budget %d + slack %d", round, got, budget, slack)
				}
				if got, want := ing.mem.unflushed.Load()+ing.mem.retained.Load(), measureChunkMemory(ing); got != want {
					t.Fatalf("round %d: accounted %d bytes, chunks hold %d", round, got, want)
				}
			}
			if memFlushes < 3 {
				t.Fatalf("only %d memory flushes over %d rounds; the test pushes too little", memFlushes, rounds)
			}
			if err := ing.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got, want := st.lines(t), multiset(pushed); !maps.Equal(got, want) {
				t.Fatalf("store holds %d distinct lines, want %d", len(got), len(want))
			}
			// Early flushes write large chunks first: most stored chunks
			// hold more than a block.
			small := 0
			for _, series := range st.segments {
				for _, sr := range series {
					for _, ref := range sr.Chunks {
						if ref.UncompressedBytes < uint32(cfg.ChunkBlockSize) {
							small++
						}
					}
				}
			}
			if small > len(st.chunks)/2 {
				t.Fatalf("%d of %d stored chunks hold less than one block", small, len(st.chunks))
			}
		})
	}
}

// checkNothingLost asserts every pushed line is in the ingester's memory or
// the store, and, with a retain period, still in memory.
func checkNothingLost(t *testing.T, ing *Ingester, st *fakeStore, pushed []string, retain time.Duration) {
	t.Helper()
	inMem := readAll(t, ing, "fake")
	if retain > 0 {
		if got, want := multiset(inMem), multiset(pushed); !maps.Equal(got, want) {
			t.Fatalf("Select returns %d lines, want all %d pushed (retained chunks must stay queryable)", len(inMem), len(pushed))
		}
		return
	}
	stored := st.lines(t)
	held := multiset(inMem)
	for _, l := range pushed {
		if held[l] == 0 && stored[l] == 0 {
			t.Fatalf("line %q neither in memory nor in the store", l)
		}
	}
}

// measureChunkMemory walks every chunk, the slow way accountLocked avoids.
func measureChunkMemory(ing *Ingester) int64 {
	var n int64
	for _, t := range ing.allTenants() {
		for _, s := range t.streams() {
			s.mu.Lock()
			if s.head != nil {
				n += int64(s.head.MemoryBytes())
			}
			for _, cd := range s.closed {
				n += int64(cd.chunk.MemoryBytes())
			}
			s.mu.Unlock()
		}
	}
	return n
}

func TestMemoryBudgetWakesTheFlushLoop(t *testing.T) {
	cfg := memTestConfig()
	st := newFakeStore()
	ing := startIngester(t, cfg, nil, st, t.TempDir())
	defer ing.Stop(context.Background())
	r := rand.New(rand.NewPCG(3, 4))
	now := time.Now()
	var ss []push.Stream
	for s := 0; s < 20; s++ {
		var es []push.Entry
		for k := 0; k < 1000; k++ { // 100 KB a stream, 2 MB in all
			es = append(es, entry(now.Add(time.Duration(k)), hexLine(r, s, k)))
		}
		ss = append(ss, pstream(fmt.Sprintf(`{job="j%d"}`, s), es...))
	}
	if err := ing.Push(context.Background(), "fake", req(ss...)); err != nil {
		t.Fatal(err)
	}
	// The flush period is an hour (testConfig): only the memory pressure
	// signal can bring memory under the budget within the deadline.
	deadline := time.Now().Add(10 * time.Second)
	for ing.mem.unflushed.Load() > ing.memBudget {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes unflushed 10s after passing the budget of %d", ing.mem.unflushed.Load(), ing.memBudget)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestChunksFlushedCountsEachReason(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	line := func(k int) push.Entry {
		return entry(now.Add(time.Duration(k)), fmt.Sprintf("line %d with some text", k))
	}
	cases := []struct {
		name   string
		config func(*Config)
		act    func(t *testing.T, ing *Ingester)
		want   map[string]float64
	}{
		{
			name: "full chunks are cut on append",
			config: func(c *Config) {
				c.ChunkEncoding, c.ChunkBlockSize, c.ChunkTargetSize = "none", 1<<10, 2<<10
			},
			act: func(t *testing.T, ing *Ingester) {
				var es []push.Entry
				for k := 0; k < 300; k++ {
					es = append(es, line(k))
				}
				mustPush(t, ing, pstream(`{job="a"}`, es...))
				if err := ing.flush(ctx, false, false); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]float64{flushReasonFull: 3},
		},
		{
			name:   "idle streams",
			config: func(c *Config) { c.ChunkIdlePeriod = time.Nanosecond },
			act: func(t *testing.T, ing *Ingester) {
				mustPush(t, ing, pstream(`{job="a"}`, line(1)), pstream(`{job="b"}`, line(2)))
				time.Sleep(time.Millisecond)
				if err := ing.flush(ctx, false, false); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]float64{flushReasonIdle: 2},
		},
		{
			name:   "old chunks",
			config: func(c *Config) { c.MaxChunkAge = time.Nanosecond },
			act: func(t *testing.T, ing *Ingester) {
				mustPush(t, ing, pstream(`{job="a"}`, line(1)))
				time.Sleep(time.Millisecond)
				if err := ing.flush(ctx, false, false); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]float64{flushReasonAge: 1},
		},
		{
			name:   "POST /flush",
			config: func(*Config) {},
			act: func(t *testing.T, ing *Ingester) {
				mustPush(t, ing, pstream(`{job="a"}`, line(1)), pstream(`{job="b"}`, line(2)))
				if err := ing.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]float64{flushReasonForced: 2},
		},
		{
			name: "memory budget",
			config: func(c *Config) {
				c.MaxChunkMemoryMB = 1
				c.ChunkBlockSize = 64 << 10
				c.ChunkNgramBitsPerGram = 0 // the counts below are of block bytes
			},
			act: func(t *testing.T, ing *Ingester) {
				r := rand.New(rand.NewPCG(5, 6))
				var ss []push.Stream
				for s := 0; s < 40; s++ {
					var es []push.Entry
					for k := 0; k < 500; k++ {
						es = append(es, entry(now.Add(time.Duration(k)), hexLine(r, s, k)))
					}
					ss = append(ss, pstream(fmt.Sprintf(`{job="j%d"}`, s), es...))
				}
				mustPush(t, ing, ss...)
				if err := ing.flush(ctx, false, false); err != nil {
					t.Fatal(err)
				}
				if ing.mem.unflushed.Load() > ing.memBudget*3/4 {
					t.Fatalf("%d bytes unflushed after a memory flush, want <= %d", ing.mem.unflushed.Load(), ing.memBudget*3/4)
				}
			},
			// 40 heads of about 53 KB of hex lines (76 KiB each with their
			// buffers) are 3 MiB, past the 1 MiB budget. Sealed, each
			// holds a block of about 26 KiB (chunk format 3 stores the
			// random digits two a byte): still 1 MiB, so the 8 largest
			// chunks are cut until 3/4 of the budget is left.
			want: map[string]float64{flushReasonMemory: 8},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.WAL.Enabled = false
			tc.config(&cfg)
			reg := prometheus.NewRegistry()
			ing := readyIngester(t, cfg, newFakeStore(), reg)
			tc.act(t, ing)
			for _, reason := range []string{flushReasonFull, flushReasonIdle, flushReasonAge, flushReasonMemory, flushReasonForced} {
				got := testutil.ToFloat64(ing.m.chunksFlushed.WithLabelValues(reason))
				if got != tc.want[reason] {
					t.Errorf("chunks flushed for reason %q = %g, want %g", reason, got, tc.want[reason])
				}
			}
		})
	}
}

// pushHexStreams pushes perStream hexLines to each of streams streams and
// returns the lines pushed.
func pushHexStreams(t *testing.T, ing *Ingester, r *rand.Rand, now time.Time, streams, perStream int) []string {
	t.Helper()
	var ss []push.Stream
	var pushed []string
	for s := range streams {
		var es []push.Entry
		for k := range perStream {
			l := hexLine(r, s, k)
			es = append(es, entry(now.Add(time.Duration(k)), l))
			pushed = append(pushed, l)
		}
		ss = append(ss, pstream(fmt.Sprintf(`{job="j%d"}`, s), es...))
	}
	mustPush(t, ing, ss...)
	return pushed
}

// flushOverBudget runs a flush cycle from over the memory budget and
// checks that it brought the unflushed memory down to the low-water mark.
func flushOverBudget(t *testing.T, ing *Ingester) {
	t.Helper()
	if ing.mem.unflushed.Load() <= ing.memBudget {
		t.Fatalf("%d bytes unflushed; the test must start over the budget of %d", ing.mem.unflushed.Load(), ing.memBudget)
	}
	if err := ing.flush(context.Background(), false, false); err != nil {
		t.Fatal(err)
	}
	if got := ing.mem.unflushed.Load(); got > ing.memBudget*3/4 {
		t.Fatalf("%d bytes unflushed after the flush cycle, want <= %d", got, ing.memBudget*3/4)
	}
}

func TestMemoryPressureSealsHeadBlocksBeforeCuttingChunks(t *testing.T) {
	cfg := memTestConfig()
	cfg.ChunkBlockSize = 64 << 10
	st := newFakeStore()
	ing := readyIngester(t, cfg, st, nil)
	now := time.Now()
	// 20 heads of about 53 KB (1.5 MiB with their buffers) are over the
	// budget; compressed, they fit.
	pushed := pushHexStreams(t, ing, rand.New(rand.NewPCG(7, 8)), now, 20, 500)
	flushOverBudget(t, ing)
	if n := len(st.chunks); n != 0 {
		t.Fatalf("%d chunks flushed; sealing the heads was enough", n)
	}
	if got := float64(ing.mem.sealed.Load()); got == 0 || got > 20 {
		t.Fatalf("%g head blocks sealed, want 1 to 20", got)
	}
	if got, want := multiset(readAll(t, ing, "fake")), multiset(pushed); !maps.Equal(got, want) {
		t.Fatalf("Select returns %d distinct lines after sealing, want %d", len(got), len(want))
	}
	// Appends continue into the sealed chunks' fresh heads.
	mustPush(t, ing, pstream(`{job="j0"}`, entry(now.Add(time.Second), "after sealing")))
	if got := readAll(t, ing, "fake"); len(got) != len(pushed)+1 {
		t.Fatalf("Select returns %d lines, want %d", len(got), len(pushed)+1)
	}
}

// With many streams sharing the budget no head reaches a quarter block and
// no chunk is worth a store object of its own: small heads are sealed
// rather than every stream's few lines flushed as a chunk each.
func TestMemoryPressureOverManyStreamsSealsSmallHeadsBeforeCutting(t *testing.T) {
	cfg := memTestConfig()
	cfg.ChunkBlockSize = 256 << 10 // a quarter block, 64 KiB, is far above every head
	st := newFakeStore()
	ing := readyIngester(t, cfg, st, nil)
	// 150 streams of about 8 KB.
	pushed := pushHexStreams(t, ing, rand.New(rand.NewPCG(9, 10)), time.Now(), 150, 70)
	flushOverBudget(t, ing)
	if n := len(st.chunks); n != 0 {
		t.Fatalf("%d chunks of a few lines flushed; sealing the small heads was enough", n)
	}
	if got := ing.mem.sealed.Load(); got == 0 {
		t.Fatal("no head block sealed")
	}
	if got, want := multiset(readAll(t, ing, "fake")), multiset(pushed); !maps.Equal(got, want) {
		t.Fatalf("Select returns %d distinct lines after sealing, want %d", len(got), len(want))
	}
}

func TestMemoryFlushesKeepTheWALCheckpointCorrect(t *testing.T) {
	dir := t.TempDir()
	cfg := memTestConfig()
	cfg.WAL.Enabled = true
	cfg.FlushOnShutdown = false
	st := newFakeStore()
	ing := startIngester(t, cfg, nil, st, dir)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 10))
	now := time.Now()
	var pushed []string
	var storedAtCheckpoint map[string]int
	for round := 0; round < 35; round++ {
		var ss []push.Stream
		for s := 0; s < 20; s++ {
			var es []push.Entry
			for k := 0; k < 60; k++ {
				n := round*60 + k
				l := hexLine(r, s, n)
				es = append(es, entry(now.Add(time.Duration(n)*time.Millisecond), l))
				pushed = append(pushed, l)
			}
			ss = append(ss, pstream(fmt.Sprintf(`{job="j%d"}`, s), es...))
		}
		mustPush(t, ing, ss...)
		if err := ing.flush(ctx, false, false); err != nil {
			t.Fatal(err)
		}
		if round == 25 {
			storedAtCheckpoint = st.lines(t)
			if err := ing.checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := testutil.ToFloat64(ing.m.chunksFlushed.WithLabelValues(flushReasonMemory)); n == 0 {
		t.Fatal("no chunk was flushed for memory; the test pushes too little")
	}
	if len(storedAtCheckpoint) == 0 {
		t.Fatal("nothing was in the store at the checkpoint; the test pushes too little")
	}
	if err := ing.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	again := startIngester(t, cfg, nil, st, dir)
	defer again.Stop(ctx)
	replayed := multiset(readAll(t, again, "fake"))
	stored := st.lines(t)
	for _, l := range pushed {
		if replayed[l] == 0 && stored[l] == 0 {
			t.Fatalf("line %q lost: neither replayed nor in the store", l)
		}
		if replayed[l] > 1 {
			t.Fatalf("line %q replayed %d times", l, replayed[l])
		}
	}
	// What the store held at the checkpoint left the WAL with it.
	for l := range storedAtCheckpoint {
		if replayed[l] > 0 {
			t.Fatalf("line %q was in the store before the checkpoint but came back from the WAL", l)
		}
	}
}

func mustPush(t *testing.T, ing *Ingester, ss ...push.Stream) {
	t.Helper()
	if err := ing.Push(context.Background(), "fake", req(ss...)); err != nil {
		t.Fatal(err)
	}
}

func TestFlushEncodesAtMostOneChunkPerEncodeSlot(t *testing.T) {
	// Uploads run ConcurrentFlushes at once, but encoding (merging small
	// blocks, a second copy of the chunk) is CPU-bound and holds its
	// buffers per chunk: it waits for one of GOMAXPROCS slots.
	st := newFakeStore()
	cfg := testConfig()
	cfg.ConcurrentFlushes = 8
	ing := startIngester(t, cfg, nil, st, t.TempDir())
	defer ing.Stop(context.Background())
	now := time.Now()
	for s := range 6 {
		if err := ing.Push(context.Background(), "fake", req(pstream(fmt.Sprintf(`{job="enc-%d"}`, s), entry(now, fmt.Sprintf("line of stream %d", s))))); err != nil {
			t.Fatal(err)
		}
	}
	for range cap(ing.encodeSlots) {
		ing.encodeSlots <- struct{}{}
	}
	done := make(chan error, 1)
	go func() { done <- ing.Flush(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("flush returned (%v) with every encode slot taken", err)
	case <-time.After(100 * time.Millisecond):
	}
	st.mu.Lock()
	puts := st.puts
	st.mu.Unlock()
	if puts != 0 {
		t.Fatalf("%d chunks uploaded with every encode slot taken, want 0", puts)
	}
	for range cap(ing.encodeSlots) {
		<-ing.encodeSlots
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := st.lines(t); len(got) != 6 {
		t.Fatalf("store holds %d lines after the flush, want 6", len(got))
	}
	if n := len(ing.encodeSlots); n != 0 {
		t.Fatalf("%d encode slots still held after the flush", n)
	}
}

// New chunks merge their runs of small blocks at Encode once the memory
// budget leaves each stream under minBudgetPerStream: a run merged as it
// completes holds a 16 KiB bitmap, counted in the budget.
func TestThinBudgetPerStreamMergesAtEncode(t *testing.T) {
	cfg := testConfig()
	cfg.WAL.Enabled = false
	cfg.MaxChunkMemoryMB = 1 // 1 MiB: 10 streams leave 102 KiB each, 11 leave 93 KiB
	ing := readyIngester(t, cfg, newFakeStore(), prometheus.NewRegistry())
	now := time.Now()
	pushStreams := func(streams int) {
		var ss []push.Stream
		for s := range streams {
			ss = append(ss, pstream(fmt.Sprintf(`{job="j%d"}`, s), entry(now, fmt.Sprintf("line %d", s))))
		}
		mustPush(t, ing, ss...)
		now = now.Add(time.Second)
	}
	pushStreams(10)
	if ing.mem.mergeAtEncode.Load() {
		t.Error("10 streams, 1 MiB budget: merging at Encode, want as runs complete")
	}
	// The eleventh stream's first chunk already merges at Encode.
	pushStreams(11)
	if !ing.mem.mergeAtEncode.Load() {
		t.Error("11 streams, 1 MiB budget: merging as runs complete, want at Encode")
	}
	if ing.mem.provisionalSeals.Load() {
		t.Error("11 streams, 1 MiB budget: sealing provisionally, want at the configured level")
	}
	// 34 streams leave 30.1 KiB each, 35 leave 29.3 KiB: small blocks are
	// then sealed provisionally.
	pushStreams(34)
	if ing.mem.provisionalSeals.Load() {
		t.Error("34 streams, 1 MiB budget: sealing provisionally, want at the configured level")
	}
	pushStreams(35)
	if !ing.mem.provisionalSeals.Load() || !ing.mem.mergeAtEncode.Load() {
		t.Error("35 streams, 1 MiB budget: want small blocks sealed provisionally and merged at Encode")
	}
}
