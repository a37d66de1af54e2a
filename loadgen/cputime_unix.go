//go:build unix

package loadgen

import (
	"syscall"
	"time"
)

// cpuMeasured says that cpuTime measures on this platform.
const cpuMeasured = true

// cpuTime returns the CPU time (user and system) the process has used: the
// generator's self-measurement and the benchmarks' CPU per operation, which
// other load on the machine disturbs less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
