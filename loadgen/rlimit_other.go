//go:build !linux && !darwin

package loadgen

// openFileLimit reports no limit where there is no RLIMIT_NOFILE.
func openFileLimit() (soft, hard uint64, err error) { return 0, 0, nil }

// raiseOpenFiles does nothing where there is no RLIMIT_NOFILE.
func raiseOpenFiles(uint64) error { return nil }
