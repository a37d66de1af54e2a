//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
)

// raiseOpenFileLimit raises the soft limit on open files towards want, as
// far as the hard limit allows, and fails clearly when the hard limit is
// below required, the least the run can work with.
func raiseOpenFileLimit(want, required uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("loadgen: read the open-file limit: %w", err)
	}
	if lim.Max < required {
		return fmt.Errorf("loadgen: the run needs at least %d open files but the hard limit is %d: raise it (ulimit -Hn, or LimitNOFILE= for a service) or run fewer clients per process (--shard)", required, lim.Max)
	}
	want = min(max(want, required), lim.Max)
	if lim.Cur >= want {
		return nil
	}
	lim.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("loadgen: raise the open-file limit to %d: %w", want, err)
	}
	return nil
}
