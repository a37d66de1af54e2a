//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package sqlite

import "os"

// lockFile does nothing on systems with neither flock nor LockFileEx: the
// sender lock is not enforced there (see Outbox).
func lockFile(*os.File) error { return nil }
