package sqlite

import (
	"log/slog"
	"time"
)

// DefaultBusyTimeout is how long a statement waits for a lock held by
// another connection or process before failing.
const DefaultBusyTimeout = 5 * time.Second

// Options configures a durable outbox opened with Open. The zero value is
// ready to use.
type Options struct {
	// MaxItemBytes caps the size of one item (ID, Kind, Key and Payload
	// together). 0 means offline.DefaultMaxItemBytes; negative means no
	// limit.
	MaxItemBytes int
	// MaxItems caps the number of stored items, dead letters included.
	// 0 means offline.DefaultMaxItems; negative means no limit.
	MaxItems int
	// MaxBytes caps the total size of stored items, dead letters included.
	// 0 means offline.DefaultMaxBytes; negative means no limit.
	MaxBytes int64
	// Now is the clock (expiry, Created, dead-letter times, the names of
	// files moved aside). nil means time.Now.
	Now func() time.Time
	// Logger receives debug records of the drain (ids and kinds, never
	// payloads) and warnings when Open moves a file aside or removes files
	// a crash left behind. nil means discard.
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for a lock held by another
	// process. 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// MoveAsideCorrupt makes Open rename a corrupt or truncated database
	// (with its -wal and -shm files) to path+".corrupt-<UTC timestamp>",
	// keep it for support, and start with an empty outbox. When false, Open
	// returns a *CorruptError instead.
	MoveAsideCorrupt bool
}
