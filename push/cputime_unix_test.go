//go:build unix

package push

import (
	"syscall"
	"time"
)

// processCPUTime is the user+system CPU time the test process has used.
// Benchmarks report it besides wall time because on a shared machine the
// wall time of a loop says more about the neighbours than about the code.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
