// Package outboxtest is the contract every offline.Outbox keeps, as tests
// that any implementation runs against itself, and the small helpers those
// tests share. The in-memory outbox (package offline) and the durable one
// (package offline/sqlite) both run Run.
package outboxtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regfleet/regfleet/offline"
)

// Clock is a settable test clock, for the outboxes' Now option.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Options are the options every contract test may set; a Factory passes
// them on to the outbox it makes.
type Options struct {
	MaxItemBytes int
	MaxItems     int
	MaxBytes     int64
	Now          func() time.Time
}

// Factory makes a fresh, empty outbox for one test; the test closes it.
type Factory func(t *testing.T, o Options) offline.Manager

// Recorder is a SendFunc (its Send method) that records what it was given
// and answers with Fail(it); a nil Fail means success.
type Recorder struct {
	Fail func(it offline.Item) error

	mu   sync.Mutex
	sent []offline.Item
}

// Send records it and returns Fail(it).
func (r *Recorder) Send(_ context.Context, it offline.Item) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, it)
	if r.Fail != nil {
		return r.Fail(it)
	}
	return nil
}

// Sent returns the items given to Send, in order.
func (r *Recorder) Sent() []offline.Item {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// IDs returns the IDs of the items given to Send, in order.
func (r *Recorder) IDs() []string {
	return ids(r.Sent(), func(it offline.Item) string { return it.ID })
}

// NewLogger returns a logger that writes text records, debug level up, to
// w: tests read what an outbox logs from it.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// NewItem returns an invitation with the given ID and order key and the
// payload "payload of <id>".
func NewItem(id, key string) offline.Item {
	return offline.Item{ID: id, Kind: "sendinvitation", Key: key, Payload: []byte("payload of " + id)}
}

// MustEnqueue enqueues items in order and fails the test on an error.
func MustEnqueue(t testing.TB, ob offline.Outbox, items ...offline.Item) {
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

// PendingIDs returns the IDs of ob's pending items.
func PendingIDs(t testing.TB, ob offline.Outbox) []string {
	t.Helper()
	p, err := ob.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids(p, func(it offline.Item) string { return it.ID })
}

// DeadIDs returns the IDs of ob's dead letters.
func DeadIDs(t testing.TB, ob offline.Outbox) []string {
	t.Helper()
	d, err := ob.Dead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids(d, func(d offline.DeadLetter) string { return d.ID })
}

// WantIDs fails the test unless got lists exactly want, in order.
func WantIDs(t testing.TB, what string, got []string, want ...string) {
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

// WantLen fails the test unless ob has want pending items.
func WantLen(t testing.TB, ob offline.Outbox, want int) {
	t.Helper()
	n, err := ob.Len(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("Len = %d, want %d", n, want)
	}
}

// DrainEvents returns the events buffered in s, without blocking.
func DrainEvents(s *offline.Subscription) []offline.Event {
	var out []offline.Event
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

// Run runs the contract of an Outbox against the outboxes newOutbox makes,
// each in a subtest.
func Run(t *testing.T, newOutbox Factory) {
	ctx := context.Background()
	open := func(t *testing.T, o Options) offline.Manager {
		t.Helper()
		ob := newOutbox(t, o)
		t.Cleanup(func() { _ = ob.Close() })
		return ob
	}

	t.Run("DrainDeliversInOrderAndRemoves", func(t *testing.T) {
		clk := NewClock()
		ob := open(t, Options{Now: clk.Now})
		sub := ob.Subscribe(0)
		MustEnqueue(t, ob, NewItem("a", "k1"), NewItem("b", ""), NewItem("c", "k2"), NewItem("d", "k1"), NewItem("e", ""))
		WantLen(t, ob, 5)
		WantIDs(t, "Pending", PendingIDs(t, ob), "a", "b", "c", "d", "e")
		var r Recorder
		res, err := ob.Drain(ctx, r.Send)
		if err != nil {
			t.Fatal(err)
		}
		if res != (offline.DrainResult{Sent: 5}) {
			t.Fatalf("DrainResult = %+v, want 5 sent", res)
		}
		WantIDs(t, "sent", r.IDs(), "a", "b", "c", "d", "e")
		for _, it := range r.Sent() {
			if it.Attempts != 1 || string(it.Payload) != "payload of "+it.ID || it.Kind != "sendinvitation" || !it.Created.Equal(clk.Now()) {
				t.Fatalf("sent item %+v: want Attempts 1, its payload, kind and Created %v", it, clk.Now())
			}
		}
		WantLen(t, ob, 0)
		WantIDs(t, "Pending", PendingIDs(t, ob))
		evs := DrainEvents(sub)
		var got []string
		for i, e := range evs {
			if e.Seq != uint64(i+1) {
				t.Fatalf("event %d has Seq %d", i, e.Seq)
			}
			got = append(got, e.Kind.String()+":"+e.ID)
		}
		WantIDs(t, "events", got, "queued:a", "queued:b", "queued:c", "queued:d", "queued:e",
			"sent:a", "sent:b", "sent:c", "sent:d", "sent:e")
		if sub.Dropped() != 0 {
			t.Fatalf("Dropped = %d", sub.Dropped())
		}
	})

	t.Run("EmptyDrain", func(t *testing.T) {
		ob := open(t, Options{})
		res, err := ob.Drain(ctx, func(context.Context, offline.Item) error {
			t.Error("send called on an empty outbox")
			return nil
		})
		if err != nil || res != (offline.DrainResult{}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
	})

	t.Run("DeadLetterDoesNotBlockItsKey", func(t *testing.T) {
		clk := NewClock()
		ob := open(t, Options{Now: clk.Now})
		sub := ob.Subscribe(0)
		MustEnqueue(t, ob, NewItem("a1", "A"), NewItem("b1", "B"), NewItem("a2", "A"), NewItem("b2", "B"), NewItem("n", ""))
		r := Recorder{Fail: func(it offline.Item) error {
			if it.ID == "a1" {
				return fmt.Errorf("send: %w", offline.Permanent(errors.New("exception -30300: recipient unknown")))
			}
			return nil
		}}
		res, err := ob.Drain(ctx, r.Send)
		if err != nil {
			t.Fatal(err)
		}
		if res != (offline.DrainResult{Sent: 4, Dead: 1}) {
			t.Fatalf("DrainResult = %+v, want 4 sent, 1 dead", res)
		}
		WantIDs(t, "sent", r.IDs(), "a1", "b1", "a2", "b2", "n")
		WantIDs(t, "Pending", PendingIDs(t, ob))
		WantIDs(t, "Dead", DeadIDs(t, ob), "a1")
		WantLen(t, ob, 0)
		d, _ := ob.Dead(ctx)
		if d[0].Reason != "exception -30300: recipient unknown" || !d[0].Died.Equal(clk.Now()) || d[0].Attempts != 1 {
			t.Fatalf("dead letter = %+v", d[0])
		}
		var dead []offline.Event
		for _, e := range DrainEvents(sub) {
			if e.Kind == offline.EventDead {
				dead = append(dead, e)
			}
		}
		if len(dead) != 1 || dead[0].ID != "a1" || dead[0].Reason != d[0].Reason {
			t.Fatalf("dead events = %+v", dead)
		}

		// Retry puts a1 back in its place, before a3 enqueued since.
		MustEnqueue(t, ob, NewItem("a3", "A"))
		if err := ob.Retry(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
		WantIDs(t, "Dead after Retry", DeadIDs(t, ob))
		WantIDs(t, "Pending after Retry", PendingIDs(t, ob), "a1", "a3")
		r2 := Recorder{}
		if res, err := ob.Drain(ctx, r2.Send); err != nil || res != (offline.DrainResult{Sent: 2}) {
			t.Fatalf("Drain after Retry = %+v, %v", res, err)
		}
		WantIDs(t, "sent after Retry", r2.IDs(), "a1", "a3")
		if r2.Sent()[0].Attempts != 2 {
			t.Fatalf("a1 Attempts = %d, want 2", r2.Sent()[0].Attempts)
		}
	})

	// Issue 10, item 3: an invitation to an unknown recipient in space 42
	// dies; bob's invitation in space 42, enqueued later and in a later
	// drain, is still delivered.
	t.Run("LaterItemOfDeadLettersKeyIsDelivered", func(t *testing.T) {
		ob := open(t, Options{})
		MustEnqueue(t, ob, NewItem("to-nobody", "space42"))
		unknown := Recorder{Fail: func(offline.Item) error { return offline.Permanent(errors.New("recipient unknown")) }}
		if res, err := ob.Drain(ctx, unknown.Send); err != nil || res != (offline.DrainResult{Dead: 1}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		MustEnqueue(t, ob, NewItem("to-bob", "space42"))
		r := Recorder{}
		if res, err := ob.Drain(ctx, r.Send); err != nil || res != (offline.DrainResult{Sent: 1}) {
			t.Fatalf("Drain = %+v, %v: the dead letter holds back its key", res, err)
		}
		WantIDs(t, "sent", r.IDs(), "to-bob")
		WantIDs(t, "Dead", DeadIDs(t, ob), "to-nobody")
		// Discarding the dead letter leaves the rest alone.
		if err := ob.Discard(ctx, "to-nobody"); err != nil {
			t.Fatal(err)
		}
		WantIDs(t, "Dead after Discard", DeadIDs(t, ob))
		WantLen(t, ob, 0)
	})

	// Items expire on time wherever they wait: behind a pending item of
	// their key, or behind the transient failure that ends the drain.
	t.Run("WaitingItemsExpireOnTime", func(t *testing.T) {
		clk := NewClock()
		ob := open(t, Options{Now: clk.Now})
		sub := ob.Subscribe(0)
		behindKey := NewItem("behind-key", "space42")
		behindKey.Expires = clk.Now().Add(time.Hour)
		behindStop := NewItem("behind-stop", "other")
		behindStop.Expires = clk.Now().Add(time.Hour)
		keep := NewItem("keep", "")
		keep.Expires = clk.Now().Add(3 * time.Hour)
		MustEnqueue(t, ob, NewItem("stuck", "space42"), behindKey, behindStop, keep)
		errDown := errors.New("connection refused")
		down := Recorder{Fail: func(offline.Item) error { return errDown }}
		clk.Add(2 * time.Hour)
		res, err := ob.Drain(ctx, down.Send)
		if !errors.Is(err, errDown) {
			t.Fatalf("Drain: %v, want the send error", err)
		}
		if res != (offline.DrainResult{Dead: 2}) {
			t.Fatalf("DrainResult = %+v, want the 2 expired items dead", res)
		}
		WantIDs(t, "sent", down.IDs(), "stuck")
		WantIDs(t, "Pending", PendingIDs(t, ob), "stuck", "keep")
		WantIDs(t, "Dead", DeadIDs(t, ob), "behind-key", "behind-stop")
		d, _ := ob.Dead(ctx)
		for _, d := range d {
			if d.Reason != offline.ReasonExpired || d.Attempts != 0 || !d.Died.Equal(clk.Now()) {
				t.Fatalf("dead letter %+v: want reason %q, never sent, died now", d, offline.ReasonExpired)
			}
		}
		var dead []string
		for _, e := range DrainEvents(sub) {
			if e.Kind == offline.EventDead {
				dead = append(dead, e.ID+":"+e.Reason)
			}
		}
		WantIDs(t, "dead events", dead, "behind-key:expired", "behind-stop:expired")
	})

	t.Run("TransientFailureStopsAndKeepsItem", func(t *testing.T) {
		ob := open(t, Options{})
		MustEnqueue(t, ob, NewItem("a", ""), NewItem("b", ""), NewItem("c", ""))
		errDown := errors.New("connection refused")
		r := Recorder{Fail: func(it offline.Item) error {
			if it.ID == "b" {
				return errDown
			}
			return nil
		}}
		res, err := ob.Drain(ctx, r.Send)
		if !errors.Is(err, errDown) {
			t.Fatalf("Drain error = %v, want the send error", err)
		}
		if res != (offline.DrainResult{Sent: 1}) {
			t.Fatalf("DrainResult = %+v", res)
		}
		WantIDs(t, "sent", r.IDs(), "a", "b")
		WantIDs(t, "Pending", PendingIDs(t, ob), "b", "c")
		// Many more transient failures than MaxClaims never kill the item:
		// a transient failure is an outcome.
		for i := range 3 * offline.MaxClaims {
			if _, err := ob.Drain(ctx, r.Send); !errors.Is(err, errDown) {
				t.Fatalf("drain %d: %v", i, err)
			}
		}
		WantIDs(t, "Dead", DeadIDs(t, ob))
		r2 := Recorder{}
		if res, err := ob.Drain(ctx, r2.Send); err != nil || res != (offline.DrainResult{Sent: 2}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		if got := r2.Sent()[0].Attempts; got != 3*offline.MaxClaims+2 {
			t.Fatalf("b Attempts = %d, want %d", got, 3*offline.MaxClaims+2)
		}
		WantLen(t, ob, 0)
	})

	t.Run("ExpiredItemsDie", func(t *testing.T) {
		clk := NewClock()
		ob := open(t, Options{Now: clk.Now})
		old := NewItem("old", "K")
		old.Expires = clk.Now().Add(time.Minute)
		later := NewItem("later", "K")
		fresh := NewItem("fresh", "")
		fresh.Expires = clk.Now().Add(time.Hour)
		MustEnqueue(t, ob, old, later, fresh)
		clk.Add(2 * time.Minute)
		r := Recorder{}
		res, err := ob.Drain(ctx, r.Send)
		if err != nil || res != (offline.DrainResult{Sent: 2, Dead: 1}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		// "later" does not wait behind the dead "old" of its key.
		WantIDs(t, "sent", r.IDs(), "later", "fresh")
		d, _ := ob.Dead(ctx)
		if len(d) != 1 || d[0].ID != "old" || d[0].Reason != offline.ReasonExpired || d[0].Attempts != 0 {
			t.Fatalf("Dead = %+v", d)
		}
		WantIDs(t, "Pending", PendingIDs(t, ob))
		// Expires exactly now is not expired yet.
		edge := NewItem("edge", "")
		edge.Expires = clk.Now()
		MustEnqueue(t, ob, edge)
		r2 := Recorder{}
		if res, err := ob.Drain(ctx, r2.Send); err != nil || res != (offline.DrainResult{Sent: 1}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
	})

	t.Run("AbandonedClaimsDie", func(t *testing.T) {
		ob := open(t, Options{})
		MustEnqueue(t, ob, NewItem("crashy", "K"), NewItem("next", "K"))
		crash := func(context.Context, offline.Item) error { panic("sender crashed") }
		for i := range offline.MaxClaims {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatalf("drain %d: send was not called", i)
					}
				}()
				_, _ = ob.Drain(ctx, crash)
			}()
		}
		r := Recorder{}
		res, err := ob.Drain(ctx, r.Send)
		if err != nil || res != (offline.DrainResult{Sent: 1, Dead: 1}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		WantIDs(t, "sent", r.IDs(), "next")
		d, _ := ob.Dead(ctx)
		if len(d) != 1 || d[0].ID != "crashy" || !strings.Contains(d[0].Reason, "abandoned") || d[0].Attempts != offline.MaxClaims {
			t.Fatalf("Dead = %+v", d)
		}
		// Retry resets the claims: it is sent again.
		if err := ob.Retry(ctx, "crashy"); err != nil {
			t.Fatal(err)
		}
		if res, err := ob.Drain(ctx, r.Send); err != nil || res != (offline.DrainResult{Sent: 1}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
	})

	t.Run("Limits", func(t *testing.T) {
		ob := open(t, Options{MaxItemBytes: 100, MaxItems: 3, MaxBytes: 200})
		big := offline.Item{ID: "big", Payload: make([]byte, 98)}
		if err := ob.Enqueue(ctx, big); !errors.Is(err, offline.ErrTooLarge) {
			t.Fatalf("Enqueue over the item limit: %v, want ErrTooLarge", err)
		}
		MustEnqueue(t, ob, offline.Item{ID: "i1", Payload: make([]byte, 98)}) // 100 bytes: at the limit
		MustEnqueue(t, ob, offline.Item{ID: "i2", Payload: make([]byte, 98)})
		if err := ob.Enqueue(ctx, offline.Item{ID: "i3", Payload: make([]byte, 1)}); !errors.Is(err, offline.ErrFull) {
			t.Fatalf("Enqueue over the byte limit: %v, want ErrFull", err)
		}
		if err := ob.Discard(ctx, "i2"); err != nil {
			t.Fatal(err)
		}
		MustEnqueue(t, ob, offline.Item{ID: "i3"}, offline.Item{ID: "i4"})
		if err := ob.Enqueue(ctx, offline.Item{ID: "i5"}); !errors.Is(err, offline.ErrFull) {
			t.Fatalf("Enqueue over the count limit: %v, want ErrFull", err)
		}
		// Dead letters count toward the limits.
		r := Recorder{Fail: func(offline.Item) error { return offline.Permanent(errors.New("no")) }}
		if res, err := ob.Drain(ctx, r.Send); err != nil || res.Dead != 3 {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		WantLen(t, ob, 0)
		if err := ob.Enqueue(ctx, offline.Item{ID: "i5"}); !errors.Is(err, offline.ErrFull) {
			t.Fatalf("Enqueue with dead letters at the count limit: %v, want ErrFull", err)
		}
		WantIDs(t, "Pending", PendingIDs(t, ob))
	})

	t.Run("DefaultItemLimit", func(t *testing.T) {
		ob := open(t, Options{})
		if err := ob.Enqueue(ctx, offline.Item{ID: "x", Payload: make([]byte, offline.DefaultMaxItemBytes)}); !errors.Is(err, offline.ErrTooLarge) {
			t.Fatalf("Enqueue: %v, want ErrTooLarge", err)
		}
		MustEnqueue(t, ob, offline.Item{ID: "x", Payload: make([]byte, offline.DefaultMaxItemBytes-1)})
	})

	t.Run("NoLimits", func(t *testing.T) {
		ob := open(t, Options{MaxItemBytes: -1, MaxItems: -1, MaxBytes: -1})
		MustEnqueue(t, ob, offline.Item{ID: "x", Payload: make([]byte, offline.DefaultMaxItemBytes+1)})
	})

	t.Run("InvalidAndDuplicate", func(t *testing.T) {
		ob := open(t, Options{})
		if err := ob.Enqueue(ctx, offline.Item{Kind: "x"}); !errors.Is(err, offline.ErrInvalidItem) {
			t.Fatalf("Enqueue without ID: %v", err)
		}
		MustEnqueue(t, ob, NewItem("a", "k"))
		dup := NewItem("a", "other")
		if err := ob.Enqueue(ctx, dup); !errors.Is(err, offline.ErrDuplicate) {
			t.Fatalf("Enqueue duplicate: %v", err)
		}
		p, _ := ob.Pending(ctx)
		if len(p) != 1 || p[0].Key != "k" {
			t.Fatalf("Pending = %+v", p)
		}
		// A dead letter's id is still taken.
		r := Recorder{Fail: func(offline.Item) error { return offline.Permanent(errors.New("no")) }}
		_, _ = ob.Drain(ctx, r.Send)
		if err := ob.Enqueue(ctx, dup); !errors.Is(err, offline.ErrDuplicate) {
			t.Fatalf("Enqueue duplicate of a dead letter: %v", err)
		}
		// Once delivered or discarded, the id may be used again.
		if err := ob.Discard(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		MustEnqueue(t, ob, dup)
	})

	t.Run("RetryDiscardNotFound", func(t *testing.T) {
		ob := open(t, Options{})
		MustEnqueue(t, ob, NewItem("p", ""))
		if err := ob.Retry(ctx, "p"); !errors.Is(err, offline.ErrNotFound) {
			t.Fatalf("Retry of a pending item: %v, want ErrNotFound", err)
		}
		if err := ob.Retry(ctx, "nope"); !errors.Is(err, offline.ErrNotFound) {
			t.Fatalf("Retry: %v", err)
		}
		if err := ob.Discard(ctx, "nope"); !errors.Is(err, offline.ErrNotFound) {
			t.Fatalf("Discard: %v", err)
		}
		if err := ob.Discard(ctx, "p"); err != nil {
			t.Fatal(err)
		}
		if err := ob.Discard(ctx, "p"); !errors.Is(err, offline.ErrNotFound) {
			t.Fatalf("second Discard: %v", err)
		}
		WantLen(t, ob, 0)
	})

	t.Run("StoredCopyIsIsolated", func(t *testing.T) {
		ob := open(t, Options{})
		it := NewItem("a", "")
		MustEnqueue(t, ob, it)
		it.Payload[0] = 'X'
		p, _ := ob.Pending(ctx)
		p[0].Payload[1] = 'Y'
		r := Recorder{}
		if _, err := ob.Drain(ctx, r.Send); err != nil {
			t.Fatal(err)
		}
		if got := string(r.Sent()[0].Payload); got != "payload of a" {
			t.Fatalf("payload = %q", got)
		}
	})

	t.Run("ExplicitCreatedKept", func(t *testing.T) {
		ob := open(t, Options{})
		at := time.Date(2025, 5, 6, 7, 8, 9, 123456789, time.UTC)
		exp := at.Add(100 * 365 * 24 * time.Hour)
		MustEnqueue(t, ob, offline.Item{ID: "a", Created: at, Expires: exp, Attempts: 7})
		p, _ := ob.Pending(ctx)
		if !p[0].Created.Equal(at) || !p[0].Expires.Equal(exp) || p[0].Attempts != 0 {
			t.Fatalf("Pending = %+v", p[0])
		}
	})

	t.Run("CancelDuringSend", func(t *testing.T) {
		ob := open(t, Options{})
		MustEnqueue(t, ob, NewItem("a", ""), NewItem("b", ""))
		cctx, cancel := context.WithCancel(ctx)
		res, err := ob.Drain(cctx, func(ctx context.Context, it offline.Item) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		})
		if !errors.Is(err, context.Canceled) || res != (offline.DrainResult{}) {
			t.Fatalf("Drain = %+v, %v", res, err)
		}
		WantIDs(t, "Pending", PendingIDs(t, ob), "a", "b")
		// The cancelled send was an outcome, not an abandoned claim.
		for range offline.MaxClaims + 1 {
			c2, cancel2 := context.WithCancel(ctx)
			_, _ = ob.Drain(c2, func(ctx context.Context, it offline.Item) error { cancel2(); return ctx.Err() })
		}
		WantIDs(t, "Dead", DeadIDs(t, ob))
		// A context that ended before Drain sends nothing.
		c3, cancel3 := context.WithCancel(ctx)
		cancel3()
		if _, err := ob.Drain(c3, func(context.Context, offline.Item) error { t.Error("send called"); return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("Drain with ended ctx: %v", err)
		}
	})

	t.Run("SubscriptionDropsInsteadOfBlocking", func(t *testing.T) {
		ob := open(t, Options{})
		sub := ob.Subscribe(2)
		MustEnqueue(t, ob, NewItem("a", ""), NewItem("b", ""), NewItem("c", ""), NewItem("d", ""))
		if sub.Dropped() != 2 {
			t.Fatalf("Dropped = %d, want 2", sub.Dropped())
		}
		evs := DrainEvents(sub)
		if len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 {
			t.Fatalf("events = %+v", evs)
		}
		MustEnqueue(t, ob, NewItem("e", ""))
		evs = DrainEvents(sub)
		if len(evs) != 1 || evs[0].Seq != 5 || evs[0].ID != "e" {
			t.Fatalf("after the gap: %+v", evs)
		}
		sub.Close()
		sub.Close()
		if _, ok := <-sub.C; ok {
			t.Fatal("channel open after Close")
		}
		MustEnqueue(t, ob, NewItem("f", "")) // no subscriber: must not block
	})

	t.Run("CloseStopsDrainAndIsIdempotent", func(t *testing.T) {
		ob := newOutbox(t, Options{})
		sub := ob.Subscribe(0)
		MustEnqueue(t, ob, NewItem("a", ""))
		inSend := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, err := ob.Drain(ctx, func(ctx context.Context, it offline.Item) error {
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
		if first != nil && !errors.Is(first, offline.ErrNotKept) {
			t.Fatal(first)
		}
		if err := <-done; !errors.Is(err, offline.ErrClosed) {
			t.Fatalf("Drain after Close = %v, want ErrClosed", err)
		}
		if err := ob.Close(); err != first {
			t.Fatalf("second Close: %v, want what the first returned (%v)", err, first)
		}
		for range DrainEvents(sub) {
		}
		if _, ok := <-sub.C; ok {
			t.Fatal("subscription open after Close")
		}
		if _, ok := <-ob.Subscribe(1).C; ok {
			t.Fatal("subscription after Close is open")
		}
		if err := ob.Enqueue(ctx, NewItem("b", "")); !errors.Is(err, offline.ErrClosed) {
			t.Fatalf("Enqueue after Close: %v", err)
		}
		if _, err := ob.Drain(ctx, (&Recorder{}).Send); !errors.Is(err, offline.ErrClosed) {
			t.Fatalf("Drain after Close: %v", err)
		}
		if _, err := ob.Len(ctx); !errors.Is(err, offline.ErrClosed) {
			t.Fatalf("Len after Close: %v", err)
		}
		if _, err := ob.Pending(ctx); !errors.Is(err, offline.ErrClosed) {
			t.Fatalf("Pending after Close: %v", err)
		}
		if _, err := ob.Dead(ctx); !errors.Is(err, offline.ErrClosed) {
			t.Fatalf("Dead after Close: %v", err)
		}
		if err := ob.Retry(ctx, "a"); !errors.Is(err, offline.ErrClosed) {
			t.Fatalf("Retry after Close: %v", err)
		}
		if err := ob.Discard(ctx, "a"); !errors.Is(err, offline.ErrClosed) {
			t.Fatalf("Discard after Close: %v", err)
		}
	})

	t.Run("DiscardDuringSend", func(t *testing.T) {
		ob := open(t, Options{})
		MustEnqueue(t, ob, NewItem("a", "k"), NewItem("b", "k"))
		res, err := ob.Drain(ctx, func(ctx context.Context, it offline.Item) error {
			if it.ID == "a" {
				if err := ob.Discard(ctx, "a"); err != nil {
					t.Errorf("Discard: %v", err)
				}
			}
			return nil
		})
		if err != nil || res != (offline.DrainResult{Sent: 1}) {
			t.Fatalf("Drain = %+v, %v (the discarded item is not counted)", res, err)
		}
		WantLen(t, ob, 0)
	})

	t.Run("NilSend", func(t *testing.T) {
		ob := open(t, Options{})
		if _, err := ob.Drain(ctx, nil); err == nil {
			t.Fatal("Drain(nil) succeeded")
		}
	})

	t.Run("ConcurrentEnqueueAndDrain", func(t *testing.T) {
		ob := open(t, Options{})
		const writers, perWriter = 4, 50
		var mu sync.Mutex
		seen := map[string]int{}
		lastOfKey := map[string]int{}
		send := func(_ context.Context, it offline.Item) error {
			mu.Lock()
			defer mu.Unlock()
			seen[it.ID]++
			var w, n int
			if _, err := fmt.Sscanf(it.ID, "w%d-%d", &w, &n); err != nil {
				return offline.Permanent(err)
			}
			if last, ok := lastOfKey[it.Key]; ok && n <= last {
				return offline.Permanent(fmt.Errorf("%s after %d: out of order", it.ID, last))
			}
			lastOfKey[it.Key] = n
			return nil
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				for n := range perWriter {
					if err := ob.Enqueue(ctx, NewItem(fmt.Sprintf("w%d-%d", w, n), fmt.Sprintf("key%d", w))); err != nil {
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
		WantIDs(t, "Dead", DeadIDs(t, ob))
		WantLen(t, ob, 0)
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
		ob := open(t, Options{})
		MustEnqueue(t, ob, NewItem("a", ""))
		inSend := make(chan struct{})
		release := make(chan struct{})
		first := make(chan error, 1)
		go func() {
			_, err := ob.Drain(ctx, func(context.Context, offline.Item) error {
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
		if _, err := ob.Drain(c2, func(context.Context, offline.Item) error { t.Error("second drain sent"); return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("second Drain: %v", err)
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	})
}
