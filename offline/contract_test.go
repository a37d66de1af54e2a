package offline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testOpts are the options every contract test may set.
type testOpts struct {
	MaxItemBytes int
	MaxItems     int
	MaxBytes     int64
	Now          func() time.Time
}

// factory makes a fresh outbox for one test; the test closes it.
type factory func(t *testing.T, o testOpts) Manager

func newMemoryFactory(t *testing.T, o testOpts) Manager {
	return NewMemory(MemoryOptions{MaxItemBytes: o.MaxItemBytes, MaxItems: o.MaxItems, MaxBytes: o.MaxBytes, Now: o.Now})
}

func TestMemoryContract(t *testing.T) { runContract(t, newMemoryFactory) }

// recorder is a SendFunc that records what it was given and answers with
// fail(it) (nil means success).
type recorder struct {
	mu   sync.Mutex
	sent []Item
	fail func(it Item) error
}

func (r *recorder) send(_ context.Context, it Item) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, it)
	if r.fail != nil {
		return r.fail(it)
	}
	return nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, it := range r.sent {
		out = append(out, it.ID)
	}
	return out
}

func item(id, key string) Item {
	return Item{ID: id, Kind: "sendinvitation", Key: key, Payload: []byte("payload of " + id)}
}

func mustEnqueue(t *testing.T, ob Outbox, items ...Item) {
	t.Helper()
	for _, it := range items {
		if err := ob.Enqueue(context.Background(), it); err != nil {
			t.Fatalf("Enqueue(%s): %v", it.ID, err)
		}
	}
}

func ids[T any](xs []T, id func(T) string) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func pendingIDs(t *testing.T, ob Outbox) []string {
	t.Helper()
	p, err := ob.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids(p, func(it Item) string { return it.ID })
}

func deadIDs(t *testing.T, ob Outbox) []string {
	t.Helper()
	d, err := ob.Dead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids(d, func(d DeadLetter) string { return d.ID })
}

func wantIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func wantLen(t *testing.T, ob Outbox, want int) {
	t.Helper()
	n, err := ob.Len(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("Len = %d, want %d", n, want)
	}
}

// drainEvents reads what is buffered in s without blocking.
func drainEvents(s *Subscription) []Event {
	var out []Event
	for {
		select {
		case e, ok := <-s.C:
			if !ok {
				return out
			}
			out = append(out, e)
		default:
			return out
		}
	}
}

func runContract(t *testing.T, newOutbox factory) {
	ctx := context.Background()
	open := func(t *testing.T, o testOpts) Manager {
		t.Helper()
		ob := newOutbox(t, o)
		t.Cleanup(func() { _ = ob.Close() })
		return ob
	}

	t.Run("DrainDeliversInOrderAndRemoves", func(t *testing.T) {
		clk := newClock()
		ob := open(t, testOpts{Now: clk.Now})
		sub := ob.Subscribe(0)
		mustEnqueue(t, ob, item("a", "k1"), item("b", ""), item("c", "k2"), item("d", "k1"), item("e", ""))
		wantLen(t, ob, 5)
		wantIDs(t, "Pending", pendingIDs(t, ob), "a", "b", "c", "d", "e")
		var r recorder
		res, err := ob.Drain(ctx, r.send)
		if err != nil {
			t.Fatal(err)
		}
		if res != (DrainResult{Sent: 5}) {
			t.Fatalf("DrainResult = %+v, want 5 sent", res)
		}
		wantIDs(t, "sent", r.ids(), "a", "b", "c", "d", "e")
		for _, it := range r.sent {
			if it.Attempts != 1 || string(it.Payload) != "payload of "+it.ID || it.Kind != "sendinvitation" || !it.Created.Equal(clk.Now()) {
				t.Fatalf("sent item %+v: want Attempts 1, its payload, kind and Created %v", it, clk.Now())
			}
		}
		wantLen(t, ob, 0)
		wantIDs(t, "Pending", pendingIDs(t, ob))
		evs := drainEvents(sub)
		var got []string
		for i, e := range evs {
			if e.Seq != uint64(i+1) {
				t.Fatalf("event %d has Seq %d", i, e.Seq)
			}
			got = append(got, e.Kind.String()+":"+e.ID)
		}
		wantIDs(t, "events", got, "queued:a", "queued:b", "queued:c", "queued:d", "queued:e",
			"sent:a", "sent:b", "sent:c", "sent:d", "sent:e")
		if sub.Dropped() != 0 {
			t.Fatalf("Dropped = %d", sub.Dropped())
		}
	})

	t.Run("EmptyDrain", func(t *testing.T) {
		ob := open(t, testOpts{})
		res, err := ob.Drain(ctx, func(context.Context, Item) error {
			t.Error("send called on an empty outbox")
			return nil
		})
		if err != nil || res != (DrainResult{}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
	})

	t.Run("DeadLetterDoesNotBlockItsKey", func(t *testing.T) {
		clk := newClock()
		ob := open(t, testOpts{Now: clk.Now})
		sub := ob.Subscribe(0)
		mustEnqueue(t, ob, item("a1", "A"), item("b1", "B"), item("a2", "A"), item("b2", "B"), item("n", ""))
		r := recorder{fail: func(it Item) error {
			if it.ID == "a1" {
				return fmt.Errorf("send: %w", Permanent(errors.New("exception -30300: recipient unknown")))
			}
			return nil
		}}
		res, err := ob.Drain(ctx, r.send)
		if err != nil {
			t.Fatal(err)
		}
		if res != (DrainResult{Sent: 4, Dead: 1}) {
			t.Fatalf("DrainResult = %+v, want 4 sent, 1 dead", res)
		}
		wantIDs(t, "sent", r.ids(), "a1", "b1", "a2", "b2", "n")
		wantIDs(t, "Pending", pendingIDs(t, ob))
		wantIDs(t, "Dead", deadIDs(t, ob), "a1")
		wantLen(t, ob, 0)
		d, _ := ob.Dead(ctx)
		if d[0].Reason != "exception -30300: recipient unknown" || !d[0].Died.Equal(clk.Now()) || d[0].Attempts != 1 {
			t.Fatalf("dead letter = %+v", d[0])
		}
		var dead []Event
		for _, e := range drainEvents(sub) {
			if e.Kind == EventDead {
				dead = append(dead, e)
			}
		}
		if len(dead) != 1 || dead[0].ID != "a1" || dead[0].Reason != d[0].Reason {
			t.Fatalf("dead events = %+v", dead)
		}

		// Retry puts a1 back in its place, before a3 enqueued since.
		mustEnqueue(t, ob, item("a3", "A"))
		if err := ob.Retry(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "Dead after Retry", deadIDs(t, ob))
		wantIDs(t, "Pending after Retry", pendingIDs(t, ob), "a1", "a3")
		r2 := recorder{}
		if res, err := ob.Drain(ctx, r2.send); err != nil || res != (DrainResult{Sent: 2}) {
			t.Fatalf("Drain after Retry = %+v, %v", res, err)
		}
		wantIDs(t, "sent after Retry", r2.ids(), "a1", "a3")
		if r2.sent[0].Attempts != 2 {
			t.Fatalf("a1 Attempts = %d, want 2", r2.sent[0].Attempts)
		}
	})

	// Issue 10, item 3: an invitation to an unknown recipient in space 42
	// dies; bob's invitation in space 42, enqueued later and in a later
	// drain, is still delivered.
	t.Run("LaterItemOfDeadLettersKeyIsDelivered", func(t *testing.T) {
		ob := open(t, testOpts{})
		mustEnqueue(t, ob, item("to-nobody", "space42"))
		unknown := recorder{fail: func(Item) error { return Permanent(errors.New("recipient unknown")) }}
		if res, err := ob.Drain(ctx, unknown.send); err != nil || res != (DrainResult{Dead: 1}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		mustEnqueue(t, ob, item("to-bob", "space42"))
		r := recorder{}
		if res, err := ob.Drain(ctx, r.send); err != nil || res != (DrainResult{Sent: 1}) {
			t.Fatalf("Drain = %+v, %v: the dead letter holds back its key", res, err)
		}
		wantIDs(t, "sent", r.ids(), "to-bob")
		wantIDs(t, "Dead", deadIDs(t, ob), "to-nobody")
		// Discarding the dead letter leaves the rest alone.
		if err := ob.Discard(ctx, "to-nobody"); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "Dead after Discard", deadIDs(t, ob))
		wantLen(t, ob, 0)
	})

	// Items expire on time wherever they wait: behind a pending item of
	// their key, or behind the transient failure that ends the drain.
	t.Run("WaitingItemsExpireOnTime", func(t *testing.T) {
		clk := newClock()
		ob := open(t, testOpts{Now: clk.Now})
		sub := ob.Subscribe(0)
		behindKey := item("behind-key", "space42")
		behindKey.Expires = clk.Now().Add(time.Hour)
		behindStop := item("behind-stop", "other")
		behindStop.Expires = clk.Now().Add(time.Hour)
		keep := item("keep", "")
		keep.Expires = clk.Now().Add(3 * time.Hour)
		mustEnqueue(t, ob, item("stuck", "space42"), behindKey, behindStop, keep)
		errDown := errors.New("connection refused")
		down := recorder{fail: func(Item) error { return errDown }}
		clk.Add(2 * time.Hour)
		res, err := ob.Drain(ctx, down.send)
		if !errors.Is(err, errDown) {
			t.Fatalf("Drain: %v, want the send error", err)
		}
		if res != (DrainResult{Dead: 2}) {
			t.Fatalf("DrainResult = %+v, want the 2 expired items dead", res)
		}
		wantIDs(t, "sent", down.ids(), "stuck")
		wantIDs(t, "Pending", pendingIDs(t, ob), "stuck", "keep")
		wantIDs(t, "Dead", deadIDs(t, ob), "behind-key", "behind-stop")
		d, _ := ob.Dead(ctx)
		for _, d := range d {
			if d.Reason != ReasonExpired || d.Attempts != 0 || !d.Died.Equal(clk.Now()) {
				t.Fatalf("dead letter %+v: want reason %q, never sent, died now", d, ReasonExpired)
			}
		}
		var dead []string
		for _, e := range drainEvents(sub) {
			if e.Kind == EventDead {
				dead = append(dead, e.ID+":"+e.Reason)
			}
		}
		wantIDs(t, "dead events", dead, "behind-key:expired", "behind-stop:expired")
	})

	t.Run("TransientFailureStopsAndKeepsItem", func(t *testing.T) {
		ob := open(t, testOpts{})
		mustEnqueue(t, ob, item("a", ""), item("b", ""), item("c", ""))
		errDown := errors.New("connection refused")
		r := recorder{fail: func(it Item) error {
			if it.ID == "b" {
				return errDown
			}
			return nil
		}}
		res, err := ob.Drain(ctx, r.send)
		if !errors.Is(err, errDown) {
			t.Fatalf("Drain error = %v, want the send error", err)
		}
		if res != (DrainResult{Sent: 1}) {
			t.Fatalf("DrainResult = %+v", res)
		}
		wantIDs(t, "sent", r.ids(), "a", "b")
		wantIDs(t, "Pending", pendingIDs(t, ob), "b", "c")
		// Many more transient failures than MaxClaims never kill the item:
		// a transient failure is an outcome.
		for i := range 3 * MaxClaims {
			if _, err := ob.Drain(ctx, r.send); !errors.Is(err, errDown) {
				t.Fatalf("drain %d: %v", i, err)
			}
		}
		wantIDs(t, "Dead", deadIDs(t, ob))
		r2 := recorder{}
		if res, err := ob.Drain(ctx, r2.send); err != nil || res != (DrainResult{Sent: 2}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		if got := r2.sent[0].Attempts; got != 3*MaxClaims+2 {
			t.Fatalf("b Attempts = %d, want %d", got, 3*MaxClaims+2)
		}
		wantLen(t, ob, 0)
	})

	t.Run("ExpiredItemsDie", func(t *testing.T) {
		clk := newClock()
		ob := open(t, testOpts{Now: clk.Now})
		old := item("old", "K")
		old.Expires = clk.Now().Add(time.Minute)
		later := item("later", "K")
		fresh := item("fresh", "")
		fresh.Expires = clk.Now().Add(time.Hour)
		mustEnqueue(t, ob, old, later, fresh)
		clk.Add(2 * time.Minute)
		r := recorder{}
		res, err := ob.Drain(ctx, r.send)
		if err != nil || res != (DrainResult{Sent: 2, Dead: 1}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		// "later" does not wait behind the dead "old" of its key.
		wantIDs(t, "sent", r.ids(), "later", "fresh")
		d, _ := ob.Dead(ctx)
		if len(d) != 1 || d[0].ID != "old" || d[0].Reason != ReasonExpired || d[0].Attempts != 0 {
			t.Fatalf("Dead = %+v", d)
		}
		wantIDs(t, "Pending", pendingIDs(t, ob))
		// Expires exactly now is not expired yet.
		edge := item("edge", "")
		edge.Expires = clk.Now()
		mustEnqueue(t, ob, edge)
		r2 := recorder{}
		if res, err := ob.Drain(ctx, r2.send); err != nil || res != (DrainResult{Sent: 1}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
	})

	t.Run("AbandonedClaimsDie", func(t *testing.T) {
		ob := open(t, testOpts{})
		mustEnqueue(t, ob, item("crashy", "K"), item("next", "K"))
		crash := func(context.Context, Item) error { panic("sender crashed") }
		for i := range MaxClaims {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatalf("drain %d: send was not called", i)
					}
				}()
				_, _ = ob.Drain(ctx, crash)
			}()
		}
		r := recorder{}
		res, err := ob.Drain(ctx, r.send)
		if err != nil || res != (DrainResult{Sent: 1, Dead: 1}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		wantIDs(t, "sent", r.ids(), "next")
		d, _ := ob.Dead(ctx)
		if len(d) != 1 || d[0].ID != "crashy" || !strings.Contains(d[0].Reason, "abandoned") || d[0].Attempts != MaxClaims {
			t.Fatalf("Dead = %+v", d)
		}
		// Retry resets the claims: it is sent again.
		if err := ob.Retry(ctx, "crashy"); err != nil {
			t.Fatal(err)
		}
		if res, err := ob.Drain(ctx, r.send); err != nil || res != (DrainResult{Sent: 1}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
	})

	t.Run("Limits", func(t *testing.T) {
		ob := open(t, testOpts{MaxItemBytes: 100, MaxItems: 3, MaxBytes: 200})
		big := Item{ID: "big", Payload: make([]byte, 98)}
		if err := ob.Enqueue(ctx, big); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Enqueue over the item limit: %v, want ErrTooLarge", err)
		}
		mustEnqueue(t, ob, Item{ID: "i1", Payload: make([]byte, 98)}) // 100 bytes: at the limit
		mustEnqueue(t, ob, Item{ID: "i2", Payload: make([]byte, 98)})
		if err := ob.Enqueue(ctx, Item{ID: "i3", Payload: make([]byte, 1)}); !errors.Is(err, ErrFull) {
			t.Fatalf("Enqueue over the byte limit: %v, want ErrFull", err)
		}
		if err := ob.Discard(ctx, "i2"); err != nil {
			t.Fatal(err)
		}
		mustEnqueue(t, ob, Item{ID: "i3"}, Item{ID: "i4"})
		if err := ob.Enqueue(ctx, Item{ID: "i5"}); !errors.Is(err, ErrFull) {
			t.Fatalf("Enqueue over the count limit: %v, want ErrFull", err)
		}
		// Dead letters count toward the limits.
		r := recorder{fail: func(Item) error { return Permanent(errors.New("no")) }}
		if res, err := ob.Drain(ctx, r.send); err != nil || res.Dead != 3 {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		wantLen(t, ob, 0)
		if err := ob.Enqueue(ctx, Item{ID: "i5"}); !errors.Is(err, ErrFull) {
			t.Fatalf("Enqueue with dead letters at the count limit: %v, want ErrFull", err)
		}
		wantIDs(t, "Pending", pendingIDs(t, ob))
	})

	t.Run("DefaultItemLimit", func(t *testing.T) {
		ob := open(t, testOpts{})
		if err := ob.Enqueue(ctx, Item{ID: "x", Payload: make([]byte, DefaultMaxItemBytes)}); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Enqueue: %v, want ErrTooLarge", err)
		}
		mustEnqueue(t, ob, Item{ID: "x", Payload: make([]byte, DefaultMaxItemBytes-1)})
	})

	t.Run("NoLimits", func(t *testing.T) {
		ob := open(t, testOpts{MaxItemBytes: -1, MaxItems: -1, MaxBytes: -1})
		mustEnqueue(t, ob, Item{ID: "x", Payload: make([]byte, DefaultMaxItemBytes+1)})
	})

	t.Run("InvalidAndDuplicate", func(t *testing.T) {
		ob := open(t, testOpts{})
		if err := ob.Enqueue(ctx, Item{Kind: "x"}); !errors.Is(err, ErrInvalidItem) {
			t.Fatalf("Enqueue without ID: %v", err)
		}
		mustEnqueue(t, ob, item("a", "k"))
		dup := item("a", "other")
		if err := ob.Enqueue(ctx, dup); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("Enqueue duplicate: %v", err)
		}
		p, _ := ob.Pending(ctx)
		if len(p) != 1 || p[0].Key != "k" {
			t.Fatalf("Pending = %+v", p)
		}
		// A dead letter's id is still taken.
		r := recorder{fail: func(Item) error { return Permanent(errors.New("no")) }}
		_, _ = ob.Drain(ctx, r.send)
		if err := ob.Enqueue(ctx, dup); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("Enqueue duplicate of a dead letter: %v", err)
		}
		// Once delivered or discarded, the id may be used again.
		if err := ob.Discard(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		mustEnqueue(t, ob, dup)
	})

	t.Run("RetryDiscardNotFound", func(t *testing.T) {
		ob := open(t, testOpts{})
		mustEnqueue(t, ob, item("p", ""))
		if err := ob.Retry(ctx, "p"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Retry of a pending item: %v, want ErrNotFound", err)
		}
		if err := ob.Retry(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Retry: %v", err)
		}
		if err := ob.Discard(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Discard: %v", err)
		}
		if err := ob.Discard(ctx, "p"); err != nil {
			t.Fatal(err)
		}
		if err := ob.Discard(ctx, "p"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Discard: %v", err)
		}
		wantLen(t, ob, 0)
	})

	t.Run("StoredCopyIsIsolated", func(t *testing.T) {
		ob := open(t, testOpts{})
		it := item("a", "")
		mustEnqueue(t, ob, it)
		it.Payload[0] = 'X'
		p, _ := ob.Pending(ctx)
		p[0].Payload[1] = 'Y'
		r := recorder{}
		if _, err := ob.Drain(ctx, r.send); err != nil {
			t.Fatal(err)
		}
		if got := string(r.sent[0].Payload); got != "payload of a" {
			t.Fatalf("payload = %q", got)
		}
	})

	t.Run("ExplicitCreatedKept", func(t *testing.T) {
		ob := open(t, testOpts{})
		at := time.Date(2025, 5, 6, 7, 8, 9, 123456789, time.UTC)
		exp := at.Add(100 * 365 * 24 * time.Hour)
		mustEnqueue(t, ob, Item{ID: "a", Created: at, Expires: exp, Attempts: 7})
		p, _ := ob.Pending(ctx)
		if !p[0].Created.Equal(at) || !p[0].Expires.Equal(exp) || p[0].Attempts != 0 {
			t.Fatalf("Pending = %+v", p[0])
		}
	})

	t.Run("CancelDuringSend", func(t *testing.T) {
		ob := open(t, testOpts{})
		mustEnqueue(t, ob, item("a", ""), item("b", ""))
		cctx, cancel := context.WithCancel(ctx)
		res, err := ob.Drain(cctx, func(ctx context.Context, it Item) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		})
		if !errors.Is(err, context.Canceled) || res != (DrainResult{}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		wantIDs(t, "Pending", pendingIDs(t, ob), "a", "b")
		// The cancelled send was an outcome, not an abandoned claim.
		for range MaxClaims + 1 {
			c2, cancel2 := context.WithCancel(ctx)
			_, _ = ob.Drain(c2, func(ctx context.Context, it Item) error { cancel2(); return ctx.Err() })
		}
		wantIDs(t, "Dead", deadIDs(t, ob))
		// A context that ended before Drain sends nothing.
		c3, cancel3 := context.WithCancel(ctx)
		cancel3()
		if _, err := ob.Drain(c3, func(context.Context, Item) error { t.Error("send called"); return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("Drain with ended ctx: %v", err)
		}
	})

	t.Run("SubscriptionDropsInsteadOfBlocking", func(t *testing.T) {
		ob := open(t, testOpts{})
		sub := ob.Subscribe(2)
		mustEnqueue(t, ob, item("a", ""), item("b", ""), item("c", ""), item("d", ""))
		if sub.Dropped() != 2 {
			t.Fatalf("Dropped = %d, want 2", sub.Dropped())
		}
		evs := drainEvents(sub)
		if len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 {
			t.Fatalf("events = %+v", evs)
		}
		mustEnqueue(t, ob, item("e", ""))
		evs = drainEvents(sub)
		if len(evs) != 1 || evs[0].Seq != 5 || evs[0].ID != "e" {
			t.Fatalf("after the gap: %+v", evs)
		}
		sub.Close()
		sub.Close()
		if _, ok := <-sub.C; ok {
			t.Fatal("channel open after Close")
		}
		mustEnqueue(t, ob, item("f", "")) // no subscriber: must not block
	})

	t.Run("CloseStopsDrainAndIsIdempotent", func(t *testing.T) {
		ob := newOutbox(t, testOpts{})
		sub := ob.Subscribe(0)
		mustEnqueue(t, ob, item("a", ""))
		inSend := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, err := ob.Drain(ctx, func(ctx context.Context, it Item) error {
				close(inSend)
				<-ctx.Done()
				return ctx.Err()
			})
			done <- err
		}()
		<-inSend
		// "a" is still pending: a durable outbox keeps it, Memory says
		// it lost it.
		first := ob.Close()
		if first != nil && !errors.Is(first, ErrNotKept) {
			t.Fatal(first)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("Drain after Close = %v, want ErrClosed", err)
		}
		if err := ob.Close(); err != first {
			t.Fatalf("second Close: %v, want what the first returned (%v)", err, first)
		}
		for range drainEvents(sub) {
		}
		if _, ok := <-sub.C; ok {
			t.Fatal("subscription open after Close")
		}
		if _, ok := <-ob.Subscribe(1).C; ok {
			t.Fatal("subscription after Close is open")
		}
		if err := ob.Enqueue(ctx, item("b", "")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Enqueue after Close: %v", err)
		}
		if _, err := ob.Drain(ctx, (&recorder{}).send); !errors.Is(err, ErrClosed) {
			t.Fatalf("Drain after Close: %v", err)
		}
		if _, err := ob.Len(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Len after Close: %v", err)
		}
		if _, err := ob.Pending(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Pending after Close: %v", err)
		}
		if _, err := ob.Dead(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Dead after Close: %v", err)
		}
		if err := ob.Retry(ctx, "a"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Retry after Close: %v", err)
		}
		if err := ob.Discard(ctx, "a"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Discard after Close: %v", err)
		}
	})

	t.Run("DiscardDuringSend", func(t *testing.T) {
		ob := open(t, testOpts{})
		mustEnqueue(t, ob, item("a", "k"), item("b", "k"))
		res, err := ob.Drain(ctx, func(ctx context.Context, it Item) error {
			if it.ID == "a" {
				if err := ob.Discard(ctx, "a"); err != nil {
					t.Errorf("Discard: %v", err)
				}
			}
			return nil
		})
		if err != nil || res != (DrainResult{Sent: 1}) {
			t.Fatalf("Drain = %+v, %v (the discarded item is not counted)", res, err)
		}
		wantLen(t, ob, 0)
	})

	t.Run("NilSend", func(t *testing.T) {
		ob := open(t, testOpts{})
		if _, err := ob.Drain(ctx, nil); err == nil {
			t.Fatal("Drain(nil) succeeded")
		}
	})

	t.Run("ConcurrentEnqueueAndDrain", func(t *testing.T) {
		ob := open(t, testOpts{})
		const writers, perWriter = 4, 50
		var mu sync.Mutex
		seen := map[string]int{}
		lastOfKey := map[string]int{}
		send := func(_ context.Context, it Item) error {
			mu.Lock()
			defer mu.Unlock()
			seen[it.ID]++
			var w, n int
			if _, err := fmt.Sscanf(it.ID, "w%d-%d", &w, &n); err != nil {
				return Permanent(err)
			}
			if last, ok := lastOfKey[it.Key]; ok && n <= last {
				return Permanent(fmt.Errorf("%s after %d: out of order", it.ID, last))
			}
			lastOfKey[it.Key] = n
			return nil
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				for n := range perWriter {
					if err := ob.Enqueue(ctx, item(fmt.Sprintf("w%d-%d", w, n), fmt.Sprintf("key%d", w))); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := ob.Drain(ctx, send); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		wg.Wait()
		close(stop)
		<-drained
		if _, err := ob.Drain(ctx, send); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "Dead", deadIDs(t, ob))
		wantLen(t, ob, 0)
		if len(seen) != writers*perWriter {
			t.Fatalf("delivered %d distinct items, want %d", len(seen), writers*perWriter)
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("%s delivered %d times", id, n)
			}
		}
	})

	t.Run("OneDrainAtATime", func(t *testing.T) {
		ob := open(t, testOpts{})
		mustEnqueue(t, ob, item("a", ""))
		inSend := make(chan struct{})
		release := make(chan struct{})
		first := make(chan error, 1)
		go func() {
			_, err := ob.Drain(ctx, func(context.Context, Item) error {
				close(inSend)
				<-release
				return nil
			})
			first <- err
		}()
		<-inSend
		// A second Drain waits for the first; with an ended context it
		// gives up without sending.
		c2, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := ob.Drain(c2, func(context.Context, Item) error { t.Error("second drain sent"); return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("second Drain: %v", err)
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	})
}

func newSQLiteFactory(t *testing.T, o testOpts) Manager {
	t.Helper()
	ob, err := Open(filepath.Join(t.TempDir(), "outbox.db"), Options{MaxItemBytes: o.MaxItemBytes, MaxItems: o.MaxItems, MaxBytes: o.MaxBytes, Now: o.Now})
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

func TestSQLiteContract(t *testing.T) { runContract(t, newSQLiteFactory) }
