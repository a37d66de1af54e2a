//go:build linux || darwin

package loadgen

import (
	"fmt"
	"syscall"
)

// openFileLimit returns the soft and hard limits on open files.
func openFileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("loadgen: read the open-file limit: %w", err)
	}
	hard = uint64(lim.Max)
	if c := fileCap(); c > 0 {
		hard = min(hard, c)
	}
	return uint64(lim.Cur), hard, nil
}

// raiseOpenFiles raises the soft limit on open files to n, which is at
// most the hard limit.
func raiseOpenFiles(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("loadgen: read the open-file limit: %w", err)
	}
	if uint64(lim.Cur) >= n {
		return nil
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("loadgen: raise the open-file limit to %d: %w", n, err)
	}
	return nil
}
