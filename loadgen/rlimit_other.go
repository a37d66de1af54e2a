//go:build !unix

package loadgen

// raiseOpenFileLimit does nothing where there is no RLIMIT_NOFILE.
func raiseOpenFileLimit(uint64) error { return nil }
