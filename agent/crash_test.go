package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plgstack/plg/agent/positions"
)

// TestHelperAgentProcess is not a test: it is the child process the crash
// test starts and kills. It runs an agent until killed.
func TestHelperAgentProcess(t *testing.T) {
	cfgPath := os.Getenv("PLG_AGENT_HELPER_CONFIG")
	if cfgPath == "" {
		t.Skip("helper process for TestAgentSurvivesSIGKILL")
	}
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := New(cfg, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// lineInfo is where the writer put a line.
type lineInfo struct {
	ino uint64
	end int64
}

// TestAgentSurvivesSIGKILL runs the agent in a child process, kills it with
// SIGKILL several times while lines are written (with a rename+create
// rotation and an ingester outage in between), and checks that every line
// arrived, and that a line arrived twice only if it was in flight: sent but
// beyond the positions saved when the agent was killed.
func TestAgentSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	rec := newRecorder(t)
	path := filepath.Join(dir, "app.log")
	scrape := fmt.Sprintf("- job_name: app\n  static_configs: [{labels: {__path__: %q}}]\n", path)
	cfgPath := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgPath, []byte(fastConfig(dir, rec.srv.URL, scrape)), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(dir, "child-*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", filepath.Base(l), b)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "positions.yaml"))
		t.Logf("positions.yaml:\n%s", b)
	})
	var lines []lineInfo
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { f.Close() }()
	write := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := fmt.Fprintf(f, "line %06d %s\n", len(lines), strings.Repeat("x", len(lines)%50)); err != nil {
				t.Fatal(err)
			}
			fi, _ := f.Stat()
			lines = append(lines, lineInfo{ino: fi.Sys().(*syscall.Stat_t).Ino, end: fi.Size()})
		}
	}
	rotatedAt := 0
	rotate := func() {
		rotatedAt = len(lines)
		f.Close()
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// committed returns how many leading lines the positions file covers.
	committed := func() int {
		b, err := os.ReadFile(filepath.Join(dir, "positions.yaml"))
		if err != nil {
			return 0
		}
		m, err := positions.Decode(b)
		if err != nil {
			t.Fatalf("positions file unreadable after SIGKILL: %v", err)
		}
		p, ok := m[path]
		if !ok {
			return 0
		}
		n := 0
		for i, l := range lines {
			if l.ino == p.Inode && l.end <= p.Offset {
				n = i + 1
			}
			if l.ino == p.Inode && p.Offset == 0 && n == 0 {
				n = i // first line of the new file: everything before is done
				break
			}
		}
		return n
	}

	type kill struct {
		received  int // entries the ingester had when the agent died
		committed int // lines covered by the positions file then
	}
	var kills []kill
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgentProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "PLG_AGENT_HELPER_CONFIG="+cfgPath)
		out, _ := os.Create(filepath.Join(dir, fmt.Sprintf("child-%d.log", len(kills))))
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	sigkill := func(cmd *exec.Cmd) {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		kills = append(kills, kill{received: len(rec.snapshot()), committed: committed()})
	}

	rounds := []func(){
		func() { write(300) },
		func() { write(200); rotate(); write(200) },
		func() { rec.setDown(true); write(300) },
		func() { rec.setDown(false); write(300) },
		func() { write(100); rotate(); write(100) },
	}
	for i, round := range rounds {
		cmd := start()
		for j := 0; j < 5; j++ {
			round()
			if j == 0 {
				round = func() { write(20) }
			}
			time.Sleep(time.Duration(40+15*i) * time.Millisecond)
		}
		if i != 2 { // round 2 kills during an outage: nothing can commit
			// A file rotated away twice while the agent was down, or before
			// it ever saved a position for it, cannot be found again
			// (Promtail has the same limit). On a loaded machine a round
			// may be too short for the child to start, so wait until its
			// position has reached the current file and moved on.
			deadline := time.Now().Add(30 * time.Second)
			prev := 0
			if len(kills) > 0 {
				prev = kills[len(kills)-1].committed
			}
			for {
				c := committed()
				if c > rotatedAt && c > prev {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("round %d: the agent made no progress in 30s (committed %d lines)", i, c)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		sigkill(cmd)
	}
	rec.setDown(false)
	cmd := start()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		uniq := map[string]bool{}
		for _, e := range rec.snapshot() {
			uniq[e.line] = true
		}
		if len(uniq) >= len(lines) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	got := rec.snapshot()

	first := map[string]int{} // line -> index of its first receipt
	count := map[string]int{}
	for i, e := range got {
		if _, ok := first[e.line]; !ok {
			first[e.line] = i
		}
		count[e.line]++
	}
	dups := 0
	for i := range lines {
		key := fmt.Sprintf("line %06d %s", i, strings.Repeat("x", i%50))
		n := count[key]
		if n == 0 {
			t.Fatalf("line %d was lost (kills: %+v)", i, kills)
		}
		if n == 1 {
			continue
		}
		dups += n - 1
		// It was sent again after a kill: it must have been beyond the
		// positions saved at the first kill after it first arrived.
		for _, k := range kills {
			if k.received > first[key] {
				if i < k.committed {
					t.Fatalf("line %d arrived %d times but was covered by the saved positions (%d lines) when the agent was killed", i, n, k.committed)
				}
				break
			}
		}
	}
	t.Logf("%d lines, %d kills, %d duplicates (in flight at a kill)", len(lines), len(kills), dups)
}
