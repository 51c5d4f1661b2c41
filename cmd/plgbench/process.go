package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a running plg binary: a server (-mode=all) or an agent.
type process struct {
	cmd  *exec.Cmd
	addr string // host:port of its HTTP API
	// Started is when the process was spawned.
	Started time.Time

	mu   sync.Mutex
	logs []string // the last lines of its stderr
	done chan error

	// maxHWM is the highest VmHWM or VmRSS read so far, so that sample
	// still reports the peak since the start after resetPeakRSS.
	maxHWM int64
}

var startedRe = regexp.MustCompile(`msg="?plg started"?.* http=(\S+)`)

const keptLogLines = 200

// startProcess runs bin with args and waits until it logs its address and
// /ready answers 200.
func startProcess(ctx context.Context, bin string, args []string, readyTimeout time.Duration) (*process, error) {
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan error, 1), Started: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs = append(p.logs, line)
			if len(p.logs) > 2*keptLogLines {
				p.logs = append(p.logs[:0], p.logs[len(p.logs)-keptLogLines:]...)
			}
			p.mu.Unlock()
			if m := startedRe.FindStringSubmatch(line); m != nil {
				select {
				case addrCh <- m[1]:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	select {
	case p.addr = <-addrCh:
	case err := <-p.done:
		p.done <- err
		return nil, fmt.Errorf("plg exited before starting (%v):\n%s", err, p.Logs())
	case <-deadline.C:
		p.Kill()
		return nil, fmt.Errorf("plg did not log its address within %s:\n%s", readyTimeout, p.Logs())
	case <-ctx.Done():
		p.Kill()
		return nil, ctx.Err()
	}
	for {
		resp, err := http.Get(p.URL("/ready"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("plg exited before it was ready (%v):\n%s", err, p.Logs())
		case <-deadline.C:
			p.Kill()
			return nil, fmt.Errorf("plg was not ready within %s:\n%s", readyTimeout, p.Logs())
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// URL is the address of path on the process's HTTP API.
func (p *process) URL(path string) string { return "http://" + p.addr + path }

// Pid is the process id.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// Logs returns the last lines the process wrote to stderr.
func (p *process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.logs
	if len(l) > 40 {
		l = l[len(l)-40:]
	}
	return strings.Join(l, "\n")
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *process) Stop(timeout time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			return fmt.Errorf("plg exited with %v:\n%s", err, p.Logs())
		}
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("plg did not stop within %s:\n%s", timeout, p.Logs())
	}
}

// Kill ends the process at once (cleanup after a failure).
func (p *process) Kill() {
	_ = p.cmd.Process.Kill()
	err := <-p.done
	p.done <- err
}

// procSample is a process's resource use read from /proc.
type procSample struct {
	CPU time.Duration // user + system
	HWM int64         // peak resident set since the start, bytes
	RSS int64         // current resident set (VmRSS), bytes
	// PeakSinceReset is VmHWM: the peak since the last resetPeakRSS.
	PeakSinceReset int64
}

// clockTick is USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 100

func (p *process) sample() (procSample, error) {
	s, err := sampleProc(p.Pid())
	if err != nil {
		return s, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// The kernel's RSS counters are approximate (per-CPU, folded in
	// lazily): a VmHWM read after another may be a little lower.
	p.maxHWM = max(p.maxHWM, s.HWM, s.RSS)
	s.HWM = p.maxHWM
	return s, nil
}

// resetPeakRSS resets the kernel's high-water mark of the process's
// resident set (VmHWM) to its current RSS (proc(5), clear_refs: 5), so the
// next sample's PeakSinceReset is the peak from now; its HWM stays the peak
// since the start.
func (p *process) resetPeakRSS() error {
	if _, err := p.sample(); err != nil {
		return err
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.Pid()), []byte("5"), 0)
}

func sampleProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.CPU, err = parseProcStat(stat); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	if s.HWM, err = parseStatusKB(status, "VmHWM:"); err != nil {
		return s, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	s.PeakSinceReset = s.HWM
	if s.RSS, err = parseStatusKB(status, "VmRSS:"); err != nil {
		return s, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return s, nil
}

// parseProcStat returns utime+stime from the contents of /proc/<pid>/stat.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseProcStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("cpu time %q: not a tick count", s)
		}
		ticks += v
	}
	if ticks > int64(1<<62)/int64(time.Second/clockTick) {
		return 0, fmt.Errorf("cpu time of %d ticks: out of range", ticks)
	}
	return time.Duration(ticks) * (time.Second / clockTick), nil
}

// parseStatusKB returns the value of a "Key:   123 kB" line of
// /proc/<pid>/status in bytes.
func parseStatusKB(b []byte, key string) (int64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte(key))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s %q: want '<n> kB'", key, bytes.TrimSpace(rest))
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || v < 0 || v > 1<<50 {
			return 0, fmt.Errorf("%s %q: not a size", key, f[0])
		}
		return v << 10, nil
	}
	return 0, fmt.Errorf("no %s line", key)
}

// dirSize is the total size of the regular files under dir (0 if it does
// not exist).
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// buildBinary builds ./cmd/plg from the module at moduleDir into dir.
func buildBinary(ctx context.Context, moduleDir, dir string) (string, error) {
	bin := filepath.Join(dir, "plg")
	// The same static build and tags as `make build`, so the harness
	// measures what ships.
	cmd := exec.CommandContext(ctx, "go", "build", "-tags=nomsgpack,stdlibjson,grpcnotrace", "-o", bin, "./cmd/plg")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/plg: %w\n%s", err, out)
	}
	return bin, nil
}

// serverMetrics are the plg_ingester_* figures the report shows beside its
// own, summed over label sets.
var serverMetrics = []string{
	"plg_ingester_memory_streams",
	"plg_ingester_memory_chunks",
	"plg_ingester_memory_chunk_bytes",
	"plg_ingester_chunks_flushed_total",
	"plg_ingester_packs_flushed_total",
	"plg_ingester_index_segments_written_total",
	"plg_ingester_wal_replayed_records_total",
	"plg_ingester_rejected_entries_total",
	"plg_ingester_duplicate_entries_total",
}

// scrapeMetrics reads the named metrics from the process's /metrics.
func (p *process) scrapeMetrics(names []string) (map[string]float64, error) {
	resp, err := http.Get(p.URL("/metrics"))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := parseMetricLine(sc.Text())
		if ok && want[name] {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// parseMetricLine parses one sample line of the Prometheus text format.
func parseMetricLine(line string) (name string, v float64, ok bool) {
	if line == "" || line[0] == '#' {
		return "", 0, false
	}
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return "", 0, false
	}
	name = line[:end]
	rest := line[end:]
	if rest[0] == '{' {
		i := strings.LastIndexByte(rest, '}')
		if i < 0 {
			return "", 0, false
		}
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", 0, false
	}
	return name, v, true
}
