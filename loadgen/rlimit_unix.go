//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
)

// raiseOpenFileLimit raises the soft limit on open files to need, up to the
// hard limit, and fails clearly when the hard limit is lower than need.
func raiseOpenFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("loadgen: read the open-file limit: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	if lim.Max < need {
		return fmt.Errorf("loadgen: the run needs about %d open files but the hard limit is %d: raise it (ulimit -Hn, or LimitNOFILE= for a service) or run fewer clients per process (--shard)", need, lim.Max)
	}
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("loadgen: raise the open-file limit to %d: %w", need, err)
	}
	return nil
}
