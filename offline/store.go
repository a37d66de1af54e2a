package offline

import (
	"context"
	"time"
)

// Record is an item as a Store hands it to the drain.
type Record struct {
	// Seq is the enqueue order: unique and increasing within one store.
	Seq int64
	// Item is a copy of the stored item; Attempts counts the claims ever
	// committed.
	Item Item
	// Claims counts the claims since the last recorded outcome.
	Claims int
	// Damaged reports stored bytes that fail their checksum: the drain
	// makes such an item a dead letter (ReasonDamaged) without sending it.
	Damaged bool
}

// Store is what an outbox persists, for packages that keep an outbox in a
// store of their own (the durable outbox, offline/sqlite). The shared logic
// (item validation, limits, the one drain algorithm, events, lifecycle)
// runs on top of any Store through NewStoreOutbox, so every outbox behaves
// the same by construction. Applications do not implement or call it.
//
// Every mutating method is atomic and, for a durable store, committed
// before it returns. Methods taking a seq or an id report an error wrapping
// ErrNotFound when no such item is stored in the state they expect. The
// outbox calls Insert, Claim, Delivered, Bury, Release, Retry and Discard
// one at a time; the reads may run beside them.
type Store interface {
	// Insert stores a copy of it (whose size counts against the limits)
	// unless its ID is already stored (an error wrapping ErrDuplicate) or
	// admit, given the count and total size of the stored items (pending
	// and dead), rejects it: Insert returns admit's error. The check and
	// the insert are atomic.
	Insert(ctx context.Context, it *Item, size int64, admit func(count, bytes int64) error) error
	// BeginDrain runs at the start of every Drain, while no other Drain of
	// the outbox runs; an error ends the Drain before anything is sent. A
	// store shared between processes takes its sender lock there.
	BeginDrain(ctx context.Context) error
	// Next returns the first pending item in enqueue order with seq >
	// after that is ready: no pending item with the same non-empty Key and
	// a lower seq is stored. Dead letters never hold an item back.
	Next(ctx context.Context, after int64) (Record, bool, error)
	// Expired lists, in enqueue order, the pending items whose Expires is
	// set and before now, wherever they wait.
	Expired(ctx context.Context, now time.Time) ([]Record, error)
	// Claim increments the pending item's Attempts and Claims.
	Claim(ctx context.Context, seq int64) error
	// Delivered removes the pending item.
	Delivered(ctx context.Context, seq int64) error
	// Bury makes the pending item a dead letter with reason, dead since at.
	Bury(ctx context.Context, seq int64, reason string, at time.Time) error
	// Release records a transient outcome: the pending item's Claims go
	// back to 0.
	Release(ctx context.Context, seq int64) error
	// Pending lists the pending items in enqueue order.
	Pending(ctx context.Context) ([]Item, error)
	// Dead lists the dead letters in enqueue order.
	Dead(ctx context.Context) ([]DeadLetter, error)
	// Count reports the number of pending items.
	Count(ctx context.Context) (int, error)
	// Retry moves the dead letter id back to pending with Claims 0 and
	// returns it (ID, Kind, Key and Attempts at least).
	Retry(ctx context.Context, id string) (Item, error)
	// Discard removes the item id, pending or dead, and returns it (ID,
	// Kind, Key and Attempts at least).
	Discard(ctx context.Context, id string) (Item, error)
	// Close releases the store; no method is called afterwards.
	Close() error
}

// StoreOutbox is the outbox that NewStoreOutbox builds on a Store: the full
// Outbox contract and Subscribe. It is safe for concurrent use; one Drain
// runs at a time (a second one waits).
type StoreOutbox struct {
	outbox
}

var _ Manager = (*StoreOutbox)(nil)

// NewStoreOutbox returns an outbox that keeps its items in st and drains
// them with this package's drain algorithm. opts sets the limits, the clock
// and the logger as it does for NewMemory. The outbox owns st: its Close
// closes st.
func NewStoreOutbox(st Store, opts MemoryOptions) *StoreOutbox {
	lim := resolveLimits(opts.MaxItemBytes, opts.MaxItems, opts.MaxBytes)
	return &StoreOutbox{outbox{newCore(st, lim, opts.Now, opts.Logger)}}
}

// outbox holds the methods every outbox of this package shares; Memory and
// StoreOutbox embed it.
type outbox struct {
	c *core
}

// Enqueue stores a copy of it. See Outbox.Enqueue. An empty it.Created is
// set to the outbox clock's now; it.Attempts is ignored.
func (o outbox) Enqueue(ctx context.Context, it Item) error { return o.c.enqueue(ctx, it) }

// Drain delivers the ready items through send. See Outbox.Drain.
func (o outbox) Drain(ctx context.Context, send SendFunc) (DrainResult, error) {
	return o.c.drain(ctx, send)
}

// Len reports how many items are pending (dead letters excluded).
func (o outbox) Len(ctx context.Context) (int, error) { return o.c.length(ctx) }

// Pending lists the pending items in enqueue order.
func (o outbox) Pending(ctx context.Context) ([]Item, error) { return o.c.pending(ctx) }

// Dead lists the dead letters in enqueue order.
func (o outbox) Dead(ctx context.Context) ([]DeadLetter, error) { return o.c.deadLetters(ctx) }

// Retry moves the dead letter id back to pending, in its original place in
// the order. It returns ErrNotFound if id is not a dead letter.
func (o outbox) Retry(ctx context.Context, id string) error { return o.c.retry(ctx, id) }

// Discard removes the item id, pending or dead. It returns ErrNotFound if no
// such item is stored.
func (o outbox) Discard(ctx context.Context, id string) error { return o.c.discard(ctx, id) }

// Subscribe returns a subscription to the outbox's events with a buffer of
// the given size (0 means DefaultEventBuffer). See Subscription.
func (o outbox) Subscribe(buffer int) *Subscription { return o.c.subscribe(buffer) }

// Close stops a running Drain (its send sees a cancelled context), waits for
// the calls in progress and closes the store and every subscription. It is
// idempotent: every later call returns what the first one returned.
func (o outbox) Close() error { return o.c.close() }
