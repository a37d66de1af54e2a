package offline

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// Memory is an outbox held in memory, for tests and simulations: it keeps
// the full Outbox contract (limits, order per key, dead letters, expiry,
// events) but loses its items when it is closed or the process ends. The
// load generator's simulated clients use it; a desktop application wants
// the durable outbox, which survives a crash and a restart.
//
// Create it with NewMemory. It is safe for concurrent use; one Drain runs at
// a time (a second one waits).
type Memory struct {
	c *core
}

var _ Manager = (*Memory)(nil)

// NewMemory returns an empty in-memory outbox.
func NewMemory(opts MemoryOptions) *Memory {
	lim := resolveLimits(opts.MaxItemBytes, opts.MaxItems, opts.MaxBytes)
	st := newMemStore()
	c := newCore(st, lim, opts.Now, opts.Logger)
	c.beforeStoreClose = func(ctx context.Context) error {
		pending, _ := st.count(ctx)
		if pending == 0 {
			return nil
		}
		c.log.Warn("offline: memory outbox closed with pending items; they are lost (use a durable outbox)",
			"pending", pending, "dead", st.deadCount())
		return &notKeptError{pending: pending}
	}
	return &Memory{c: c}
}

// notKeptError reports the pending items a closed Memory lost.
type notKeptError struct{ pending int }

func (e *notKeptError) Error() string {
	items := "items"
	if e.pending == 1 {
		items = "item"
	}
	return fmt.Sprintf("offline: memory outbox closed with %d pending %s; they are lost (use a durable outbox)", e.pending, items)
}

func (e *notKeptError) Unwrap() error { return ErrNotKept }

// Enqueue stores a copy of it. See Outbox.Enqueue. An empty it.Created is
// set to the outbox clock's now; it.Attempts is ignored.
func (m *Memory) Enqueue(ctx context.Context, it Item) error { return m.c.enqueue(ctx, it) }

// Drain delivers the ready items through send. See Outbox.Drain.
func (m *Memory) Drain(ctx context.Context, send SendFunc) (DrainResult, error) {
	return m.c.drain(ctx, send)
}

// Len reports how many items are pending (dead letters excluded).
func (m *Memory) Len(ctx context.Context) (int, error) { return m.c.length(ctx) }

// Pending lists the pending items in enqueue order.
func (m *Memory) Pending(ctx context.Context) ([]Item, error) { return m.c.pending(ctx) }

// Dead lists the dead letters in enqueue order.
func (m *Memory) Dead(ctx context.Context) ([]DeadLetter, error) { return m.c.deadLetters(ctx) }

// Retry moves the dead letter id back to pending, in its original place in
// the order. It returns ErrNotFound if id is not a dead letter.
func (m *Memory) Retry(ctx context.Context, id string) error { return m.c.retry(ctx, id) }

// Discard removes the item id, pending or dead. It returns ErrNotFound if no
// such item is stored.
func (m *Memory) Discard(ctx context.Context, id string) error { return m.c.discard(ctx, id) }

// Subscribe returns a subscription to the outbox's events with a buffer of
// the given size (0 means DefaultEventBuffer). See Subscription.
func (m *Memory) Subscribe(buffer int) *Subscription { return m.c.subscribe(buffer) }

// Close stops a running Drain, discards the items and closes every
// subscription. When pending items (not yet delivered) are lost, it logs a
// warning with their count on MemoryOptions.Logger and returns an error
// wrapping ErrNotKept that names the count; dead letters are dropped
// without an error. Close is idempotent: every later call returns what the
// first one returned.
func (m *Memory) Close() error { return m.c.close() }

// memRec is one stored item.
type memRec struct {
	seq     int64
	it      Item
	size    int64
	claims  int
	dead    bool
	reason  string
	died    time.Time
	removed bool
}

// memStore implements store in memory.
type memStore struct {
	mu      sync.Mutex
	lastSeq int64
	order   []*memRec // ascending seq; removed records linger until compaction
	gone    int       // removed records in order
	byID    map[string]*memRec
	byKey   map[string][]*memRec // pending records per non-empty key, ascending seq
	bytes   int64
	deadN   int // dead letters among byID
}

func newMemStore() *memStore {
	return &memStore{byID: make(map[string]*memRec), byKey: make(map[string][]*memRec)}
}

// find returns the stored record with seq. Caller holds mu.
func (s *memStore) find(seq int64) (*memRec, error) {
	i := sort.Search(len(s.order), func(i int) bool { return s.order[i].seq >= seq })
	if i == len(s.order) || s.order[i].seq != seq || s.order[i].removed {
		return nil, ErrNotFound
	}
	return s.order[i], nil
}

// remove forgets r. Caller holds mu.
func (s *memStore) remove(r *memRec) {
	r.removed = true
	delete(s.byID, r.it.ID)
	if !r.dead {
		s.unqueue(r)
	}
	s.bytes -= r.size
	if r.dead {
		s.deadN--
	}
	s.gone++
	if s.gone > 64 && s.gone > len(s.order)/2 {
		kept := make([]*memRec, 0, len(s.order)-s.gone)
		for _, x := range s.order {
			if !x.removed {
				kept = append(kept, x)
			}
		}
		s.order = kept
		s.gone = 0
	}
}

// queue adds the pending record r to its key's queue, in seq order.
// Caller holds mu.
func (s *memStore) queue(r *memRec) {
	if r.it.Key == "" {
		return
	}
	q := s.byKey[r.it.Key]
	i := sort.Search(len(q), func(i int) bool { return q[i].seq > r.seq })
	s.byKey[r.it.Key] = slices.Insert(q, i, r)
}

// unqueue removes r from its key's queue. Caller holds mu.
func (s *memStore) unqueue(r *memRec) {
	if r.it.Key == "" {
		return
	}
	q := slices.DeleteFunc(s.byKey[r.it.Key], func(x *memRec) bool { return x == r })
	if len(q) == 0 {
		delete(s.byKey, r.it.Key)
	} else {
		s.byKey[r.it.Key] = q
	}
}

func cloneItem(it Item) Item {
	it.Payload = bytes.Clone(it.Payload)
	return it
}

func (s *memStore) insert(_ context.Context, it *Item, size int64, lim limits) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[it.ID]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicate, it.ID)
	}
	if err := lim.admit(int64(len(s.byID)), s.bytes, size); err != nil {
		return err
	}
	s.lastSeq++
	r := &memRec{seq: s.lastSeq, it: cloneItem(*it), size: size}
	s.order = append(s.order, r)
	s.byID[it.ID] = r
	s.queue(r)
	s.bytes += size
	return nil
}

func (s *memStore) next(_ context.Context, after int64) (record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.order), func(i int) bool { return s.order[i].seq > after })
	for ; i < len(s.order); i++ {
		r := s.order[i]
		if r.removed || r.dead {
			continue
		}
		if r.it.Key != "" && s.byKey[r.it.Key][0] != r {
			continue // an earlier item with this key is pending
		}
		return r.record(), true, nil
	}
	return record{}, false, nil
}

func (r *memRec) record() record {
	return record{seq: r.seq, item: cloneItem(r.it), claims: r.claims}
}

func (s *memStore) expired(_ context.Context, now time.Time) ([]record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []record
	for _, r := range s.order {
		if !r.removed && !r.dead && !r.it.Expires.IsZero() && r.it.Expires.Before(now) {
			out = append(out, r.record())
		}
	}
	return out, nil
}

// pendingRec returns the pending record seq. Caller holds mu.
func (s *memStore) pendingRec(seq int64) (*memRec, error) {
	r, err := s.find(seq)
	if err != nil {
		return nil, err
	}
	if r.dead {
		return nil, ErrNotFound
	}
	return r, nil
}

func (s *memStore) claim(_ context.Context, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.pendingRec(seq)
	if err != nil {
		return err
	}
	r.it.Attempts++
	r.claims++
	return nil
}

func (s *memStore) delivered(_ context.Context, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.pendingRec(seq)
	if err != nil {
		return err
	}
	s.remove(r)
	return nil
}

func (s *memStore) bury(_ context.Context, seq int64, reason string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.pendingRec(seq)
	if err != nil {
		return err
	}
	r.dead, r.reason, r.died = true, reason, at
	s.deadN++
	s.unqueue(r)
	return nil
}

func (s *memStore) release(_ context.Context, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.pendingRec(seq)
	if err != nil {
		return err
	}
	r.claims = 0
	return nil
}

func (s *memStore) pending(context.Context) ([]Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for _, r := range s.order {
		if !r.removed && !r.dead {
			out = append(out, cloneItem(r.it))
		}
	}
	return out, nil
}

func (s *memStore) dead(context.Context) ([]DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeadLetter
	for _, r := range s.order {
		if !r.removed && r.dead {
			out = append(out, DeadLetter{Item: cloneItem(r.it), Reason: r.reason, Died: r.died})
		}
	}
	return out, nil
}

func (s *memStore) count(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID) - s.deadN, nil
}

// deadCount reports the number of dead letters.
func (s *memStore) deadCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadN
}

func (s *memStore) retry(_ context.Context, id string) (Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[id]
	if !ok || !r.dead {
		return Item{}, fmt.Errorf("%w: no dead letter %s", ErrNotFound, id)
	}
	r.dead, r.reason, r.died, r.claims = false, "", time.Time{}, 0
	s.deadN--
	s.queue(r)
	return cloneItem(r.it), nil
}

func (s *memStore) discard(_ context.Context, id string) (Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[id]
	if !ok {
		return Item{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	s.remove(r)
	return cloneItem(r.it), nil
}

func (s *memStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order, s.byID, s.byKey, s.bytes, s.deadN = nil, nil, nil, 0, 0
	return nil
}
