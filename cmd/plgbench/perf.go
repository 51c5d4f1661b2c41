package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// perfRecorder profiles a process with Linux perf (`perf record -g`) while
// a phase runs, and writes a flat profile of the phase beside the data:
// where the server's CPU time goes, without adding anything to plg.
type perfRecorder struct {
	dir string
	pid int
}

// start begins recording; the returned function stops it and writes
// <name>.txt. A nil recorder records nothing.
func (r *perfRecorder) start(name string) func() error {
	if r == nil {
		return func() error { return nil }
	}
	data := filepath.Join(r.dir, name+".perf.data")
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", fmt.Sprint(r.pid), "-o", data)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return func() error { return fmt.Errorf("perf record: %w", err) }
	}
	time.Sleep(300 * time.Millisecond) // let it attach
	return func() error {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		out, err := exec.Command("perf", "report", "-i", data, "--stdio", "--no-children",
			"--sort", "symbol", "-g", "none", "--percent-limit", "0.5").Output()
		if err != nil {
			return fmt.Errorf("perf report %s: %w", data, err)
		}
		return os.WriteFile(filepath.Join(r.dir, name+".txt"), out, 0o644)
	}
}
