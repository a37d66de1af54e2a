package offline

import (
	"fmt"
	"log/slog"
	"time"
)

// Default limits of an outbox. A zero limit in MemoryOptions (or in the
// options of the durable outbox) means the default; a negative one means no
// limit.
const (
	// DefaultMaxItemBytes caps one item: the sum of the lengths of its ID,
	// Kind, Key and Payload.
	DefaultMaxItemBytes = 256 << 10
	// DefaultMaxItems caps how many items (pending and dead) an outbox holds.
	DefaultMaxItems = 10_000
	// DefaultMaxBytes caps the total size of the items (pending and dead) an
	// outbox holds.
	DefaultMaxBytes = 64 << 20
	// DefaultEventBuffer is the buffer of a subscription when Subscribe is
	// given zero.
	DefaultEventBuffer = 256
)

// MaxClaims is how many times an item may be claimed for sending without an
// outcome being recorded (the sender crashed, was killed, or lost power
// during the send) before the drain gives up on it and moves it to dead
// letters. A transient failure is an outcome: it resets the count.
const MaxClaims = 5

// MemoryOptions configures an in-memory outbox, or one that NewStoreOutbox
// builds on a Store. The zero value is ready to use.
type MemoryOptions struct {
	// MaxItemBytes caps the size of one item (ID, Kind, Key and Payload
	// together). 0 means DefaultMaxItemBytes; negative means no limit.
	MaxItemBytes int
	// MaxItems caps the number of stored items, dead letters included.
	// 0 means DefaultMaxItems; negative means no limit.
	MaxItems int
	// MaxBytes caps the total size of stored items, dead letters included.
	// 0 means DefaultMaxBytes; negative means no limit.
	MaxBytes int64
	// Now is the clock (expiry, Created, dead-letter times). nil means
	// time.Now.
	Now func() time.Time
	// Logger receives debug records of the drain (ids and kinds, never
	// payloads). nil means discard.
	Logger *slog.Logger
}

// limits are the resolved limits; a value < 0 means none.
type limits struct {
	itemBytes int64
	items     int64
	bytes     int64
}

func resolveLimits(itemBytes, items int, bytes int64) limits {
	l := limits{itemBytes: int64(itemBytes), items: int64(items), bytes: bytes}
	if l.itemBytes == 0 {
		l.itemBytes = DefaultMaxItemBytes
	}
	if l.items == 0 {
		l.items = DefaultMaxItems
	}
	if l.bytes == 0 {
		l.bytes = DefaultMaxBytes
	}
	return l
}

// admit reports whether one more item of size fits next to count items of
// total bytes already stored.
func (l limits) admit(count, total, size int64) error {
	if l.items >= 0 && count+1 > l.items {
		return fmt.Errorf("%w: %d items stored, limit %d", ErrFull, count, l.items)
	}
	if l.bytes >= 0 && total+size > l.bytes {
		return fmt.Errorf("%w: %d bytes stored, adding %d exceeds limit %d", ErrFull, total, size, l.bytes)
	}
	return nil
}

// itemSize is the size an item counts for against the limits.
func itemSize(it *Item) int64 {
	return int64(len(it.ID) + len(it.Kind) + len(it.Key) + len(it.Payload))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
