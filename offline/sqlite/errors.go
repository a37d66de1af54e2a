package sqlite

import "errors"

// Errors of the durable outbox; those it shares with every outbox
// (offline.ErrFull, offline.ErrNotFound, ...) are in package offline.
var (
	// ErrLocked reports that another process (or another Outbox value)
	// holds the sender lock of the outbox file; this one may enqueue and
	// read but not drain.
	ErrLocked = errors.New("offline: outbox locked by another process")
	// ErrCorrupt reports a database file that is damaged, truncated or not
	// an outbox at all. Open wraps it in a *CorruptError.
	ErrCorrupt = errors.New("offline: outbox file is corrupt")
)

// CorruptError says which outbox file is damaged and how. It wraps
// ErrCorrupt; Cause, when set, is the underlying error.
type CorruptError struct {
	Path   string // the database file
	Detail string // what is wrong, for humans
	Cause  error  // the underlying error, if any
}

// Error names the file and the problem.
func (e *CorruptError) Error() string {
	return "offline: outbox file " + e.Path + " is corrupt: " + e.Detail
}

// Unwrap returns ErrCorrupt and the cause.
func (e *CorruptError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.Cause}
}
