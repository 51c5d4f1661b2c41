package wal

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// A power loss keeps only what was fsynced; the bytes written after the
// last fsync may be lost, partly written or garbage. This test records the
// size of every segment at each fsync, then builds the directory a power
// loss could leave (each segment cut to its last fsynced size, followed by
// garbage) and checks that every acknowledged record survives. It also
// checks the invariant behind "only the newest segment can be torn": every
// older segment was fully fsynced before the next one was created.
func TestPowerLossKeepsEveryAcknowledgedRecordUnderSyncAlways(t *testing.T) {
	for _, raw := range []bool{true, false} {
		t.Run(map[bool]string{true: "raw", false: "compressed"}[raw], func(t *testing.T) {
			dir := t.TempDir()
			w := openTest(t, Options{Dir: dir, SegmentSize: 16 << 10, NoCompression: raw})
			var (
				mu     sync.Mutex
				synced = map[string]int64{} // segment name -> size at its last fsync
			)
			w.syncFile = func(f *os.File) error {
				if err := f.Sync(); err != nil {
					return err
				}
				fi, err := f.Stat()
				if err != nil {
					return err
				}
				mu.Lock()
				synced[filepath.Base(f.Name())] = fi.Size()
				mu.Unlock()
				return nil
			}
			var (
				ackMu sync.Mutex
				acked = map[uint64]int{} // id -> size
				wg    sync.WaitGroup
			)
			for g := range 4 {
				wg.Go(func() {
					for c := range 40 {
						id := uint64(g)<<32 | uint64(c)
						size := 50 + int(id*2654435761%3000)
						if err := w.Log(testRecord(id, size)); err != nil {
							t.Errorf("Log: %v", err)
							return
						}
						ackMu.Lock()
						acked[id] = size
						ackMu.Unlock()
					}
				})
			}
			wg.Wait()

			// Build what a power loss right now could leave, without
			// closing the WAL (Close would fsync).
			crash := t.TempDir()
			names := segmentFiles(t, dir)
			rng := rand.New(rand.NewPCG(1, 2))
			mu.Lock()
			for i, name := range names {
				data, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				durable := synced[name]
				if i < len(names)-1 && durable != int64(len(data)) {
					t.Fatalf("segment %s was closed with %d of %d bytes fsynced", name, durable, len(data))
				}
				kept := data[:durable]
				if i == len(names)-1 && int64(len(data)) > durable {
					// Unsynced tail: some of it made it, then garbage.
					n := durable + rng.Int64N(int64(len(data))-durable+1)
					kept = append(data[:n:n], make([]byte, rng.IntN(100))...)
					for j := n; j < int64(len(kept)); j++ {
						kept[j] = byte(rng.Uint32())
					}
				}
				if err := os.WriteFile(filepath.Join(crash, name), kept, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mu.Unlock()

			seen := map[uint64]bool{}
			if _, err := Replay(crash, func(rec []byte) error {
				seen[binary.LittleEndian.Uint64(rec)] = true
				return nil
			}, quiet); err != nil {
				t.Fatalf("Replay after simulated power loss: %v", err)
			}
			for id := range acked {
				if !seen[id] {
					t.Fatalf("acknowledged record %x lost in simulated power loss (%d of %d seen)", id, len(seen), len(acked))
				}
			}
		})
	}
}
