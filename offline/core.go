package offline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// record is an item as a store hands it to the drain.
type record struct {
	seq    int64 // enqueue order, unique and increasing within one store
	item   Item
	claims int // claims without a recorded outcome
	// damaged reports stored bytes that fail their checksum; the drain
	// moves such an item to dead letters without sending it.
	damaged bool
}

// store is what an outbox implementation persists. The shared logic (item
// validation, the drain algorithm, events, lifecycle) lives in core and runs
// on top of any store, so Memory and SQLite behave the same by construction.
//
// Every mutating method is atomic and, for a durable store, committed before
// it returns. Methods taking a seq or id report ErrNotFound when no such item
// is stored in the state they expect.
type store interface {
	// insert stores a copy of it unless its ID is already stored
	// (ErrDuplicate) or lim does not admit it (ErrFull).
	insert(ctx context.Context, it *Item, size int64, lim limits) error
	// next returns the first pending item in enqueue order with seq > after
	// that is ready: no pending item with the same non-empty Key and a
	// lower seq is stored. Dead letters never hold an item back.
	next(ctx context.Context, after int64) (record, bool, error)
	// expired lists, in enqueue order, the pending items whose Expires is
	// set and before now, wherever they wait.
	expired(ctx context.Context, now time.Time) ([]record, error)
	// claim increments the item's attempts and claims.
	claim(ctx context.Context, seq int64) error
	// delivered removes the item.
	delivered(ctx context.Context, seq int64) error
	// bury makes the item a dead letter with reason.
	bury(ctx context.Context, seq int64, reason string, at time.Time) error
	// release records a transient outcome: the item's claims go back to 0.
	release(ctx context.Context, seq int64) error
	// pending lists the pending items in enqueue order.
	pending(ctx context.Context) ([]Item, error)
	// dead lists the dead letters in enqueue order.
	dead(ctx context.Context) ([]DeadLetter, error)
	// count reports the number of pending items.
	count(ctx context.Context) (int, error)
	// retry moves the dead letter id back to pending with claims 0.
	retry(ctx context.Context, id string) (Item, error)
	// discard removes the item id, pending or dead.
	discard(ctx context.Context, id string) (Item, error)
	// close releases the store; no method is called afterwards.
	close() error
}

// core is the logic shared by Memory and SQLite.
type core struct {
	st  store
	lim limits
	now func() time.Time
	log *slog.Logger

	// mu orders every mutation with its event, so that subscribers see
	// events in the order the changes were made. Reads do not take it.
	mu     sync.Mutex
	events hub

	// drainSem admits one Drain at a time.
	drainSem chan struct{}
	// beforeDrain, if set, runs once per Drain after drainSem is held (the
	// SQLite outbox takes its sender lock there).
	beforeDrain func() error
	// beforeStoreClose, if set, runs once in Close when no call is in
	// progress any more, just before the store is closed (Memory reports
	// the items it loses there).
	beforeStoreClose func(ctx context.Context) error
	// afterClose, if set, runs once after the store is closed.
	afterClose func() error

	lifeMu    sync.Mutex
	closed    bool
	closeOnce sync.Once
	closeErr  error          // what close returned
	ops       sync.WaitGroup // calls in progress
	stop      context.Context
	cancel    context.CancelFunc
}

func newCore(st store, lim limits, now func() time.Time, log *slog.Logger) *core {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = discardLogger()
	}
	stop, cancel := context.WithCancel(context.Background())
	return &core{
		st:       st,
		lim:      lim,
		now:      now,
		log:      log,
		drainSem: make(chan struct{}, 1),
		stop:     stop,
		cancel:   cancel,
	}
}

// begin registers a call; it fails once the outbox is closed.
func (c *core) begin() error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.ops.Add(1)
	return nil
}

func (c *core) end() { c.ops.Done() }

// close stops a running Drain (its send sees a cancelled context), waits for
// every call in progress, then closes the store and the subscriptions. Every
// later call returns what the first one returned.
func (c *core) close() error {
	c.closeOnce.Do(func() {
		c.lifeMu.Lock()
		c.closed = true // begin fails from here on
		c.lifeMu.Unlock()
		c.cancel()
		c.ops.Wait()
		var err error
		if c.beforeStoreClose != nil {
			err = c.beforeStoreClose(context.Background())
		}
		err = errors.Join(err, c.st.close())
		if c.afterClose != nil {
			err = errors.Join(err, c.afterClose())
		}
		c.events.close()
		c.closeErr = err
	})
	return c.closeErr
}

func (c *core) emit(kind EventKind, it *Item, reason string, at time.Time) {
	c.events.emit(Event{
		Kind:     kind,
		ID:       it.ID,
		ItemKind: it.Kind,
		Key:      it.Key,
		Attempts: it.Attempts,
		Reason:   reason,
		Time:     at,
	})
}

func (c *core) enqueue(ctx context.Context, it Item) error {
	if err := c.begin(); err != nil {
		return err
	}
	defer c.end()
	if err := ctx.Err(); err != nil {
		return err
	}
	if it.ID == "" {
		return fmt.Errorf("%w: empty ID", ErrInvalidItem)
	}
	size := itemSize(&it)
	if c.lim.itemBytes >= 0 && size > c.lim.itemBytes {
		return fmt.Errorf("%w: item %s is %d bytes, limit %d", ErrTooLarge, it.ID, size, c.lim.itemBytes)
	}
	now := c.now()
	if it.Created.IsZero() {
		it.Created = now
	}
	it.Attempts = 0
	it.Payload = bytes.Clone(it.Payload)

	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.st.insert(ctx, &it, size, c.lim); err != nil {
		if errors.Is(err, ErrDuplicate) || errors.Is(err, ErrFull) {
			return err
		}
		return fmt.Errorf("offline: enqueue %s: %w", it.ID, err)
	}
	c.emit(EventQueued, &it, "", now)
	return nil
}

// drain is the one drain algorithm of every outbox. See Outbox.Drain.
func (c *core) drain(ctx context.Context, send SendFunc) (DrainResult, error) {
	var res DrainResult
	if send == nil {
		return res, errors.New("offline: Drain: nil SendFunc")
	}
	if err := c.begin(); err != nil {
		return res, err
	}
	defer c.end()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.stop, cancel)()
	// ctxErr reports why ctx ended, ErrClosed when Close ended it.
	ctxErr := func() error {
		if c.stop.Err() != nil {
			return ErrClosed
		}
		return ctx.Err()
	}

	select {
	case c.drainSem <- struct{}{}:
	case <-ctx.Done():
		return res, ctxErr()
	}
	defer func() { <-c.drainSem }()
	if c.beforeDrain != nil {
		if err := c.beforeDrain(); err != nil {
			return res, err
		}
	}

	// Outcomes are recorded even when ctx has just ended: recording is
	// local and short, and skipping it would count as a crash.
	rec := context.WithoutCancel(ctx)
	if err := c.buryExpired(ctx, rec, &res); err != nil {
		return res, err
	}
	var after int64
	for {
		if ctx.Err() != nil {
			return res, ctxErr()
		}
		r, ok, err := c.st.next(ctx, after)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctxErr()
			}
			return res, fmt.Errorf("offline: drain: %w", err)
		}
		if !ok {
			return res, nil
		}
		after = r.seq

		now := c.now()
		if r.damaged {
			if err := c.buryCounted(rec, &r, ReasonDamaged, now, &res); err != nil {
				return res, err
			}
			continue
		}
		if exp := r.item.Expires; !exp.IsZero() && exp.Before(now) {
			if err := c.buryCounted(rec, &r, ReasonExpired, now, &res); err != nil {
				return res, err
			}
			continue
		}
		if r.claims >= MaxClaims {
			reason := fmt.Sprintf("abandoned: claimed %d times without an outcome (the sender stopped during the send)", r.claims)
			if err := c.buryCounted(rec, &r, reason, now, &res); err != nil {
				return res, err
			}
			continue
		}

		c.mu.Lock() // no event, but it keeps this process's writes from waiting on each other
		err = c.st.claim(ctx, r.seq)
		c.mu.Unlock()
		if err != nil {
			if errors.Is(err, ErrNotFound) { // discarded meanwhile
				continue
			}
			if ctx.Err() != nil {
				return res, ctxErr()
			}
			return res, fmt.Errorf("offline: drain: claim %s: %w", r.item.ID, err)
		}
		r.item.Attempts++

		serr := send(ctx, r.item)
		var perm *PermanentError
		switch {
		case serr == nil:
			ok, err := c.delivered(rec, &r)
			if err != nil {
				return res, err
			}
			if ok {
				res.Sent++
			}
		case errors.As(serr, &perm):
			if err := c.buryCounted(rec, &r, perm.Err.Error(), c.now(), &res); err != nil {
				return res, err
			}
		default:
			c.mu.Lock()
			err := c.st.release(rec, r.seq)
			c.mu.Unlock()
			if err != nil && !errors.Is(err, ErrNotFound) {
				return res, errors.Join(serr, fmt.Errorf("offline: drain: release %s: %w", r.item.ID, err))
			}
			c.log.Debug("outbox send failed", "id", r.item.ID, "kind", r.item.Kind, "attempts", r.item.Attempts, "err", serr)
			if ctx.Err() != nil {
				return res, ctxErr()
			}
			return res, serr
		}
	}
}

// buryExpired makes every pending item whose Expires has passed a dead
// letter, including those waiting behind an earlier item of their key or
// behind an item the drain will not get past (a transient failure ends the
// drain): items expire on time wherever they wait.
func (c *core) buryExpired(ctx, rec context.Context, res *DrainResult) error {
	now := c.now()
	expired, err := c.st.expired(ctx, now)
	if err != nil {
		if ctx.Err() != nil {
			return nil // the drain loop reports why ctx ended
		}
		return fmt.Errorf("offline: drain: list expired items: %w", err)
	}
	for i := range expired {
		r := &expired[i]
		reason := ReasonExpired
		if r.damaged { // its Expires may be the damaged field
			reason = ReasonDamaged
		}
		if err := c.buryCounted(rec, r, reason, now, res); err != nil {
			return err
		}
	}
	return nil
}

// delivered records a delivery; false if the item was discarded meanwhile.
func (c *core) delivered(ctx context.Context, r *record) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.st.delivered(ctx, r.seq)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("offline: drain: record delivery of %s: %w", r.item.ID, err)
	}
	c.log.Debug("outbox item sent", "id", r.item.ID, "kind", r.item.Kind, "attempts", r.item.Attempts)
	c.emit(EventSent, &r.item, "", c.now())
	return true, nil
}

// buryCounted buries r and counts it in res.
func (c *core) buryCounted(ctx context.Context, r *record, reason string, at time.Time, res *DrainResult) error {
	ok, err := c.bury(ctx, r, reason, at)
	if ok {
		res.Dead++
	}
	return err
}

// bury makes the item a dead letter; false if it was discarded meanwhile.
func (c *core) bury(ctx context.Context, r *record, reason string, at time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.st.bury(ctx, r.seq, reason, at)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("offline: drain: move %s to dead letters: %w", r.item.ID, err)
	}
	c.log.Debug("outbox item dead", "id", r.item.ID, "kind", r.item.Kind, "attempts", r.item.Attempts, "reason", reason)
	c.emit(EventDead, &r.item, reason, at)
	return true, nil
}

func (c *core) length(ctx context.Context) (int, error) {
	if err := c.begin(); err != nil {
		return 0, err
	}
	defer c.end()
	n, err := c.st.count(ctx)
	if err != nil {
		return 0, fmt.Errorf("offline: len: %w", err)
	}
	return n, nil
}

func (c *core) pending(ctx context.Context) ([]Item, error) {
	if err := c.begin(); err != nil {
		return nil, err
	}
	defer c.end()
	items, err := c.st.pending(ctx)
	if err != nil {
		return nil, fmt.Errorf("offline: pending: %w", err)
	}
	return items, nil
}

func (c *core) deadLetters(ctx context.Context) ([]DeadLetter, error) {
	if err := c.begin(); err != nil {
		return nil, err
	}
	defer c.end()
	dead, err := c.st.dead(ctx)
	if err != nil {
		return nil, fmt.Errorf("offline: dead letters: %w", err)
	}
	return dead, nil
}

func (c *core) retry(ctx context.Context, id string) error {
	if err := c.begin(); err != nil {
		return err
	}
	defer c.end()
	c.mu.Lock()
	defer c.mu.Unlock()
	it, err := c.st.retry(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("offline: retry %s: %w", id, err)
	}
	c.emit(EventRetried, &it, "", c.now())
	return nil
}

func (c *core) discard(ctx context.Context, id string) error {
	if err := c.begin(); err != nil {
		return err
	}
	defer c.end()
	c.mu.Lock()
	defer c.mu.Unlock()
	it, err := c.st.discard(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("offline: discard %s: %w", id, err)
	}
	c.emit(EventDiscarded, &it, "", c.now())
	return nil
}

func (c *core) subscribe(buffer int) *Subscription { return c.events.subscribe(buffer) }
