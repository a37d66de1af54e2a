package offline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/regfleet/regfleet/internal/scope"
)

// core is the logic shared by every outbox: Memory and each StoreOutbox.
type core struct {
	st  Store
	lim limits
	now func() time.Time
	log *slog.Logger

	// mu orders every mutation with its event, so that subscribers see
	// events in the order the changes were made. Reads do not take it.
	mu     sync.Mutex
	events hub

	// drainSem admits one Drain at a time.
	drainSem chan struct{}
	// beforeStoreClose, if set, runs once in Close when no call is in
	// progress any more, just before the store is closed (Memory reports
	// the items it loses there).
	beforeStoreClose func(ctx context.Context) error

	lifeMu    sync.Mutex
	closed    bool
	closeOnce sync.Once
	closeErr  error          // what close returned
	ops       sync.WaitGroup // calls in progress
	stop      context.Context
	cancel    context.CancelFunc
}

func newCore(st Store, lim limits, now func() time.Time, log *slog.Logger) *core {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = discardLogger()
	}
	// A scope: it keeps no map of the drains' contexts (internal/scope).
	life := scope.New(context.Background())
	stop, cancel := life, life.Cancel
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
		err = errors.Join(err, c.st.Close())
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
	admit := func(count, bytes int64) error { return c.lim.admit(count, bytes, size) }
	if err := c.st.Insert(ctx, &it, size, admit); err != nil {
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
	if err := c.st.BeginDrain(ctx); err != nil {
		if ctx.Err() != nil {
			return res, ctxErr()
		}
		return res, fmt.Errorf("offline: drain: %w", err)
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
		r, ok, err := c.st.Next(ctx, after)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctxErr()
			}
			return res, fmt.Errorf("offline: drain: %w", err)
		}
		if !ok {
			return res, nil
		}
		after = r.Seq

		now := c.now()
		if r.Damaged {
			if err := c.buryCounted(rec, &r, ReasonDamaged, now, &res); err != nil {
				return res, err
			}
			continue
		}
		if exp := r.Item.Expires; !exp.IsZero() && exp.Before(now) {
			if err := c.buryCounted(rec, &r, ReasonExpired, now, &res); err != nil {
				return res, err
			}
			continue
		}
		if r.Claims >= MaxClaims {
			reason := fmt.Sprintf("abandoned: claimed %d times without an outcome (the sender stopped during the send)", r.Claims)
			if err := c.buryCounted(rec, &r, reason, now, &res); err != nil {
				return res, err
			}
			continue
		}

		c.mu.Lock() // no event, but it keeps this process's writes from waiting on each other
		err = c.st.Claim(ctx, r.Seq)
		c.mu.Unlock()
		if err != nil {
			if errors.Is(err, ErrNotFound) { // discarded meanwhile
				continue
			}
			if ctx.Err() != nil {
				return res, ctxErr()
			}
			return res, fmt.Errorf("offline: drain: claim %s: %w", r.Item.ID, err)
		}
		r.Item.Attempts++

		serr := send(ctx, r.Item)
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
			err := c.st.Release(rec, r.Seq)
			c.mu.Unlock()
			if err != nil && !errors.Is(err, ErrNotFound) {
				return res, errors.Join(serr, fmt.Errorf("offline: drain: release %s: %w", r.Item.ID, err))
			}
			c.log.Debug("outbox send failed", "id", r.Item.ID, "kind", r.Item.Kind, "attempts", r.Item.Attempts, "err", serr)
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
	expired, err := c.st.Expired(ctx, now)
	if err != nil {
		if ctx.Err() != nil {
			return nil // the drain loop reports why ctx ended
		}
		return fmt.Errorf("offline: drain: list expired items: %w", err)
	}
	for i := range expired {
		r := &expired[i]
		reason := ReasonExpired
		if r.Damaged { // its Expires may be the damaged field
			reason = ReasonDamaged
		}
		if err := c.buryCounted(rec, r, reason, now, res); err != nil {
			return err
		}
	}
	return nil
}

// delivered records a delivery; false if the item was discarded meanwhile.
func (c *core) delivered(ctx context.Context, r *Record) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.st.Delivered(ctx, r.Seq)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("offline: drain: record delivery of %s: %w", r.Item.ID, err)
	}
	c.log.Debug("outbox item sent", "id", r.Item.ID, "kind", r.Item.Kind, "attempts", r.Item.Attempts)
	c.emit(EventSent, &r.Item, "", c.now())
	return true, nil
}

// buryCounted buries r and counts it in res.
func (c *core) buryCounted(ctx context.Context, r *Record, reason string, at time.Time, res *DrainResult) error {
	ok, err := c.bury(ctx, r, reason, at)
	if ok {
		res.Dead++
	}
	return err
}

// bury makes the item a dead letter; false if it was discarded meanwhile.
func (c *core) bury(ctx context.Context, r *Record, reason string, at time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.st.Bury(ctx, r.Seq, reason, at)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("offline: drain: move %s to dead letters: %w", r.Item.ID, err)
	}
	c.log.Debug("outbox item dead", "id", r.Item.ID, "kind", r.Item.Kind, "attempts", r.Item.Attempts, "reason", reason)
	c.emit(EventDead, &r.Item, reason, at)
	return true, nil
}

func (c *core) length(ctx context.Context) (int, error) {
	if err := c.begin(); err != nil {
		return 0, err
	}
	defer c.end()
	n, err := c.st.Count(ctx)
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
	items, err := c.st.Pending(ctx)
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
	dead, err := c.st.Dead(ctx)
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
	it, err := c.st.Retry(ctx, id)
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
	it, err := c.st.Discard(ctx, id)
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
