// Package offline keeps the changes a desktop application makes while the
// Registration Server is unreachable (invitations, comments, other queued
// commands) and delivers them, in order and exactly once, when it is back.
//
// An Outbox stores Items. Each Item has an ID that the sender passes to the
// server as <requestid> on every attempt, so a replay after a lost reply or a
// crash changes nothing on the server. Items with the same order Key are
// delivered in the order they were enqueued: an item waits while an earlier
// one with its Key is pending. A dead letter never holds back the items of
// its Key: it failed because of itself, and the rest of its Key goes on
// (Retry puts it back in its original place, before the items enqueued
// after it that are still pending). Items with an empty Key are not ordered
// against each other.
//
// Drain delivers the ready items through a SendFunc and records each outcome:
//
//   - nil: delivered; the item is removed (EventSent).
//   - an error wrapped with Permanent: the item becomes a dead letter with the
//     error's text as its reason (EventDead); the drain goes on.
//   - any other error: transient; the item stays pending and Drain stops and
//     returns the error. Call Drain again once the server is reachable.
//
// An item whose Expires has passed becomes a dead letter with reason
// "expired" without being sent, wherever it waits: each Drain first buries
// every expired pending item, including those waiting behind an earlier item
// of their Key or behind a transient failure.
//
// Before each send the item's claim counter is incremented (and, for the
// durable outbox, committed); a recorded outcome resets it. An item claimed MaxClaims times without an outcome, i.e. one
// that was being sent each time the process crashed, becomes a dead letter,
// so one poisonous item cannot crash an application forever.
//
// Two implementations share one drain algorithm and one contract (the
// tests of package offline/outboxtest):
//
//   - sqlite.Open (package github.com/regfleet/regfleet/offline/sqlite)
//     returns the durable outbox, one SQLite file (modernc.org/sqlite, pure
//     Go): WAL, synchronous=FULL, Enqueue returns after the commit, one
//     sender per file guarded by an OS file lock, corruption detected at
//     Open. It lives in a package of its own so that a program that does not
//     import it does not link SQLite.
//   - NewMemory returns a *Memory outbox, for tests and simulations only: it
//     loses its items when it is closed (Close then returns an error
//     wrapping ErrNotKept with their count) or when the process ends.
//
// A desktop application wants the durable outbox: its users' invitations
// must survive a crash, a kill and a restart.
//
// The durable outbox is built on the exported seam Store, Record and
// NewStoreOutbox: a Store persists items, and the *StoreOutbox that
// NewStoreOutbox returns runs this package's one drain algorithm on it.
// Applications need none of the three.
//
// The application lists Pending items and Dead letters and can Retry or
// Discard them through the Outbox interface, and can Subscribe to events
// (queued, sent, dead, retried, discarded). Delivery of events never blocks the outbox: each subscription
// has a bounded buffer, and an event that does not fit is dropped and
// counted; Event.Seq numbers events so that a gap shows.
//
// A typical use:
//
//	ob, err := sqlite.Open(filepath.Join(dir, "outbox.db"), sqlite.Options{})
//	if err != nil {
//		return err // a *sqlite.CorruptError names the file and what is wrong
//	}
//	defer ob.Close()
//
//	err = ob.Enqueue(ctx, offline.Item{
//		ID:      requestID, // random, unique: the idempotency key
//		Kind:    "sendinvitation",
//		Key:     spaceID,
//		Payload: fields,
//		Expires: time.Now().Add(7 * 24 * time.Hour),
//	})
//
//	// when the server is reachable:
//	res, err := ob.Drain(ctx, func(ctx context.Context, it offline.Item) error {
//		err := send(ctx, it) // with it.ID as <requestid>
//		if isPermanent(err) {
//			return offline.Permanent(err)
//		}
//		return err
//	})
package offline
