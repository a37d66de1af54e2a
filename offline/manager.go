package offline

import "context"

// Manager is an Outbox with the methods an application uses to show and
// manage its queue. Memory and SQLite implement it.
type Manager interface {
	Outbox
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
	// Subscribe returns a subscription to the outbox's events.
	Subscribe(buffer int) *Subscription
}
