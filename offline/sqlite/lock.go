package sqlite

import "errors"

// errWouldBlock is what lockFile returns when another open file holds the
// lock.
var errWouldBlock = errors.New("lock held elsewhere")
