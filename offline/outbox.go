package offline

import (
	"context"
	"errors"
	"time"
)

// Item is one queued change: a command to send to the Registration Server
// later, exactly once.
type Item struct {
	// ID is the idempotency key. It is sent as <requestid> on every attempt,
	// so a replay after a lost reply or a crash changes nothing on the server.
	ID string
	// Kind is the protocol command, e.g. "sendinvitation".
	Kind string
	// Key is the order key: the entity the item belongs to (a space, a
	// file). Items with the same key are delivered in the order they were
	// enqueued; an item waits while an earlier one with its key is
	// pending. A dead letter does not hold back later items of its key.
	Key string
	// Payload holds the command's fields, encoded by the caller. The outbox
	// never interprets it.
	Payload []byte
	// Created is when the item was enqueued.
	Created time.Time
	// Expires is when the item stops being worth delivering; the zero value
	// means never. An expired item becomes a dead letter with reason
	// "expired" at the next Drain, wherever it waits.
	Expires time.Time
	// Attempts counts the sends started for this item (committed before each
	// send).
	Attempts int
}

// SendFunc delivers one item. It returns nil when the server applied it (or
// had applied it before), an error wrapped with Permanent when no retry can
// succeed, and any other error for a transient failure.
type SendFunc func(ctx context.Context, it Item) error

// Outbox is a queue of items waiting for the server, with what an
// application needs to show and manage it: the pending items, the dead
// letters, Retry and Discard. Implementations are safe for concurrent use.
type Outbox interface {
	// Enqueue stores it. It returns only once the item is stored as durably
	// as the implementation can (after the commit, for the durable outbox). An
	// item over a limit fails with ErrTooLarge or ErrFull; nothing is dropped
	// silently.
	Enqueue(ctx context.Context, it Item) error
	// Drain delivers the ready items in order through send, until none is
	// ready, ctx ends, or send reports a transient failure, which Drain then
	// returns: the caller drains again once the server is reachable.
	// Permanent failures and expired items become dead letters and do not
	// stop the drain.
	Drain(ctx context.Context, send SendFunc) (DrainResult, error)
	// Len reports how many items are pending (dead letters excluded).
	Len(ctx context.Context) (int, error)
	// Pending lists the pending items in enqueue order.
	Pending(ctx context.Context) ([]Item, error)
	// Dead lists the dead letters in enqueue order.
	Dead(ctx context.Context) ([]DeadLetter, error)
	// Retry moves the dead letter id back to pending, in its original
	// place in the order; ErrNotFound if id is not a dead letter.
	Retry(ctx context.Context, id string) error
	// Discard removes the item id, pending or dead; ErrNotFound if no such
	// item is stored.
	Discard(ctx context.Context, id string) error
	// Close releases the outbox. A durable outbox keeps its items stored;
	// one that cannot keep them (Memory) reports those it loses.
	Close() error
}

// DrainResult counts what one Drain did.
type DrainResult struct {
	Sent int // delivered and removed
	Dead int // moved to dead letters (permanent failure or expired)
}

// Errors of the outbox.
var (
	// ErrTooLarge reports an item over the item size limit.
	ErrTooLarge = errors.New("offline: item too large")
	// ErrFull reports an outbox at its count or byte limit.
	ErrFull = errors.New("offline: outbox full")
	// ErrClosed reports use of a closed outbox.
	ErrClosed = errors.New("offline: outbox closed")
	// ErrNotFound reports an unknown item id.
	ErrNotFound = errors.New("offline: no such item")
)

// PermanentError marks a send failure that no retry can fix. The drain moves
// the item to dead letters with Err's text as the reason.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that the drain treats it as permanent. It returns
// nil for a nil err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
