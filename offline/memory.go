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
// the durable outbox (package offline/sqlite), which survives a crash and a
// restart.
//
// Create it with NewMemory. It is safe for concurrent use; one Drain runs at
// a time (a second one waits). Its Close stops a running Drain, discards the
// items and closes every subscription; when pending items (not yet
// delivered) are lost, it logs a warning with their count on
// MemoryOptions.Logger and returns an error wrapping ErrNotKept that names
// the count (dead letters are dropped without an error). Close is
// idempotent: every later call returns what the first one returned.
type Memory struct {
	outbox
}

var _ Manager = (*Memory)(nil)

// NewMemory returns an empty in-memory outbox.
func NewMemory(opts MemoryOptions) *Memory {
	lim := resolveLimits(opts.MaxItemBytes, opts.MaxItems, opts.MaxBytes)
	st := newMemStore()
	c := newCore(st, lim, opts.Now, opts.Logger)
	c.beforeStoreClose = func(ctx context.Context) error {
		pending, _ := st.Count(ctx)
		if pending == 0 {
			return nil
		}
		c.log.Warn("offline: memory outbox closed with pending items; they are lost (use a durable outbox)",
			"pending", pending, "dead", st.deadCount())
		return &notKeptError{pending: pending}
	}
	return &Memory{outbox{c}}
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

// memStore implements Store in memory.
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

func (s *memStore) Insert(_ context.Context, it *Item, size int64, admit func(count, bytes int64) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[it.ID]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicate, it.ID)
	}
	if err := admit(int64(len(s.byID)), s.bytes); err != nil {
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

func (s *memStore) Next(_ context.Context, after int64) (Record, bool, error) {
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
	return Record{}, false, nil
}

func (r *memRec) record() Record {
	return Record{Seq: r.seq, Item: cloneItem(r.it), Claims: r.claims}
}

func (s *memStore) Expired(_ context.Context, now time.Time) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
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

// BeginDrain does nothing: a Memory belongs to one process.
func (s *memStore) BeginDrain(context.Context) error { return nil }

func (s *memStore) Claim(_ context.Context, seq int64) error {
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

func (s *memStore) Delivered(_ context.Context, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.pendingRec(seq)
	if err != nil {
		return err
	}
	s.remove(r)
	return nil
}

func (s *memStore) Bury(_ context.Context, seq int64, reason string, at time.Time) error {
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

func (s *memStore) Release(_ context.Context, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.pendingRec(seq)
	if err != nil {
		return err
	}
	r.claims = 0
	return nil
}

func (s *memStore) Pending(context.Context) ([]Item, error) {
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

func (s *memStore) Dead(context.Context) ([]DeadLetter, error) {
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

func (s *memStore) Count(context.Context) (int, error) {
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

func (s *memStore) Retry(_ context.Context, id string) (Item, error) {
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

func (s *memStore) Discard(_ context.Context, id string) (Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[id]
	if !ok {
		return Item{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	s.remove(r)
	return cloneItem(r.it), nil
}

func (s *memStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order, s.byID, s.byKey, s.bytes, s.deadN = nil, nil, nil, 0, 0
	return nil
}
