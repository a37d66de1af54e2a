//go:build !unix

package loadgen

// raiseOpenFileLimit does nothing where there is no RLIMIT_NOFILE.
func raiseOpenFileLimit(_, _ uint64) error { return nil }
