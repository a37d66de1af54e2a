//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package sqlite

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("lock held elsewhere")

// lockFile does nothing on systems without flock: the sender lock is not
// enforced there (see SQLite).
func lockFile(*os.File) error { return nil }
