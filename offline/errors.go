package offline

import (
	"errors"
	"time"
)

// More errors of the outbox (the first ones are in outbox.go).
var (
	// ErrDuplicate reports an Enqueue with the ID of an item already stored
	// (pending or dead). The stored item is left as it was.
	ErrDuplicate = errors.New("offline: item id already stored")
	// ErrInvalidItem reports an item that cannot be stored, e.g. one
	// without an ID.
	ErrInvalidItem = errors.New("offline: invalid item")
	// ErrNotKept reports that closing an outbox that cannot keep its items
	// (Memory) lost pending ones. The error's text says how many.
	ErrNotKept = errors.New("offline: pending items not kept")
)

// DeadLetter is an item the drain gave up on.
type DeadLetter struct {
	Item
	// Reason says why: the permanent error's text, ReasonExpired,
	// ReasonDamaged, or that the sender stopped MaxClaims times while
	// sending it.
	Reason string
	// Died is when the item became a dead letter.
	Died time.Time
}

// Reasons of dead letters that the drain itself decides.
const (
	// ReasonExpired is the Reason of an item that expired before delivery.
	ReasonExpired = "expired"
	// ReasonDamaged is the Reason of a stored item whose bytes fail their
	// checksum (the durable outbox checks every item it reads); it is
	// never sent.
	ReasonDamaged = "damaged: the stored item fails its checksum"
)
