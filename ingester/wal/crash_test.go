package wal

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	crashDirEnv   = "PLG_WAL_CRASH_DIR"
	crashRoundEnv = "PLG_WAL_CRASH_ROUND"
	crashSyncEnv  = "PLG_WAL_CRASH_SYNC"
	crashS2Env    = "PLG_WAL_CRASH_S2"
)

// crashRecordSize varies record sizes from 100 B to ~20 KiB, derived from
// the id so the parent can verify content without being told sizes.
func crashRecordSize(id uint64) int { return 100 + int(id*7919%(20<<10)) }

// TestMain lets the test binary act as the child process of the SIGKILL test.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
		policy, err := ParseSyncPolicy(os.Getenv(crashSyncEnv))
		if err == nil {
			err = crashChild(dir, round, Options{Sync: policy, NoCompression: os.Getenv(crashS2Env) == ""})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild is an ingester in miniature: it replays the WAL into a set of
// ids, then logs new records from several goroutines, printing each id to
// stdout once its Log returned (the acknowledgement), and checkpoints
// periodically, until it is killed.
func crashChild(dir string, round int, opts Options) error {
	state := map[uint64]bool{}
	_, err := Replay(dir, func(rec []byte) error {
		if len(rec) < 8 {
			return fmt.Errorf("short record")
		}
		id := binary.LittleEndian.Uint64(rec)
		if state[id] {
			return fmt.Errorf("record %x replayed twice", id)
		}
		state[id] = true
		return nil
	}, quiet)
	if err != nil {
		return err
	}
	opts.Dir, opts.SegmentSize, opts.Logger = dir, 256<<10, quiet
	w, err := Open(opts)
	if err != nil {
		return err
	}
	var (
		stateMu sync.RWMutex // writers: RLock around Log+apply; checkpoint: Lock
		applyMu sync.Mutex
		outMu   sync.Mutex
	)
	for g := range 4 {
		go func() {
			for seq := uint64(0); ; seq++ {
				id := uint64(round)<<48 | uint64(g)<<40 | seq
				stateMu.RLock()
				err := w.Log(testRecord(id, crashRecordSize(id)))
				if err == nil {
					applyMu.Lock()
					state[id] = true
					applyMu.Unlock()
				}
				stateMu.RUnlock()
				if err != nil {
					fmt.Fprintln(os.Stderr, "Log:", err)
					os.Exit(4)
				}
				outMu.Lock()
				fmt.Fprintf(os.Stdout, "%d\n", id) // unbuffered: one write(2) per ack
				outMu.Unlock()
			}
		}()
	}
	for {
		time.Sleep(20 * time.Millisecond)
		// Stop the world so the checkpoint holds exactly segments <= upto.
		stateMu.Lock()
		upto, err := w.NextSegment()
		ids := make([]uint64, 0, len(state))
		for id := range state {
			ids = append(ids, id)
		}
		stateMu.Unlock()
		if err != nil {
			return err
		}
		err = w.Checkpoint(upto, func(emit func([]byte) error) error {
			for _, id := range ids {
				if err := emit(testRecord(id, crashRecordSize(id))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// SIGKILL loses the process, not the page cache, so every policy must keep
// every acknowledged record (power loss is another matter: see FORMAT.md).
func TestSIGKILLDuringLoggingLosesNoAcknowledgedRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, tc := range []struct {
		policy   SyncPolicy
		compress bool
	}{{SyncAlways, false}, {SyncNever, true}} {
		t.Run(fmt.Sprintf("sync=%s/compress=%v", tc.policy, tc.compress), func(t *testing.T) {
			crashRounds(t, tc.policy, tc.compress, 3)
		})
	}
}

func crashRounds(t *testing.T, policy SyncPolicy, compress bool, rounds int) {
	dir := t.TempDir()
	acked := map[uint64]bool{}
	for round := 1; round <= rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round), crashSyncEnv+"="+policy.String())
		if compress {
			cmd.Env = append(cmd.Env, crashS2Env+"=1")
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan uint64, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				id, err := strconv.ParseUint(sc.Text(), 10, 64)
				if err == nil {
					lines <- id
				}
			}
		}()
		// Kill at a different point each round: after some acks, mid-stream.
		killAfter := 200 * round
		deadline := time.After(20 * time.Second)
		n := 0
	wait:
		for n < killAfter {
			select {
			case id, ok := <-lines:
				if !ok {
					break wait
				}
				acked[id] = true
				n++
			case <-deadline:
				break wait
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for id := range lines { // acks printed before the kill
			acked[id] = true
			n++
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child was not killed by the signal (exit %v); stderr:\n%s", round, err, stderr.String())
		}
		if n < killAfter {
			t.Fatalf("round %d: only %d acks before the deadline; stderr:\n%s", round, n, stderr.String())
		}
		t.Logf("round %d: killed after %d acks", round, n)
	}

	seen := map[uint64]bool{}
	st, err := Replay(dir, func(rec []byte) error {
		id := binary.LittleEndian.Uint64(rec)
		if seen[id] {
			return fmt.Errorf("record %x replayed twice", id)
		}
		seen[id] = true
		if want := testRecord(id, crashRecordSize(id)); string(rec) != string(want) {
			return fmt.Errorf("record %x has wrong content", id)
		}
		return nil
	}, quiet)
	if err != nil {
		t.Fatalf("final replay: %v", err)
	}
	missing := 0
	for id := range acked {
		if !seen[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged records missing after SIGKILL", missing, len(acked))
	}
	t.Logf("%d acknowledged, %d replayed (unacknowledged extras are allowed), stats %+v", len(acked), len(seen), st)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
