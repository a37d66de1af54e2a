package offline

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// EventKind says what happened to an item.
type EventKind int

// Kinds of events. The zero value is not used.
const (
	// EventQueued: Enqueue stored the item.
	EventQueued EventKind = iota + 1
	// EventSent: the server applied the item; it is removed.
	EventSent
	// EventDead: the item became a dead letter (Event.Reason says why).
	EventDead
	// EventRetried: Retry moved a dead letter back to pending.
	EventRetried
	// EventDiscarded: Discard removed the item.
	EventDiscarded
)

// String returns the kind's name: "queued", "sent", "dead", "retried"
// or "discarded".
func (k EventKind) String() string {
	switch k {
	case EventQueued:
		return "queued"
	case EventSent:
		return "sent"
	case EventDead:
		return "dead"
	case EventRetried:
		return "retried"
	case EventDiscarded:
		return "discarded"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event reports a change of one item. It never carries the payload.
type Event struct {
	// Seq numbers the events of one outbox from 1 in the order the changes
	// happened. A gap tells a subscriber that it missed events.
	Seq      uint64
	Kind     EventKind
	ID       string // the item's ID
	ItemKind string // the item's Kind
	Key      string // the item's order key
	Attempts int    // sends started so far
	Reason   string // for EventDead: why
	Time     time.Time
}

// Subscription receives the events of an outbox in order. Delivery never
// blocks the outbox: when the buffer is full, the event is dropped for this
// subscription and counted (see Dropped and Event.Seq). The channel is closed
// when the subscription or the outbox is closed.
type Subscription struct {
	// C delivers the events.
	C <-chan Event

	ch      chan Event
	dropped atomic.Uint64
	h       *hub
}

// Dropped reports how many events did not fit into the buffer and were
// dropped.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C. It is idempotent.
func (s *Subscription) Close() { s.h.unsubscribe(s) }

// hub fans events out to subscriptions without blocking. The order of emit
// calls is the order every subscription sees.
type hub struct {
	mu     sync.Mutex
	seq    uint64
	subs   map[*Subscription]struct{}
	closed bool
}

func (h *hub) subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultEventBuffer
	}
	ch := make(chan Event, buffer)
	s := &Subscription{C: ch, ch: ch, h: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return s
	}
	if h.subs == nil {
		h.subs = make(map[*Subscription]struct{})
	}
	h.subs[s] = struct{}{}
	return s
}

func (h *hub) unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// emit numbers e and offers it to every subscription without blocking.
func (h *hub) emit(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.seq++
	e.Seq = h.seq
	for s := range h.subs {
		select {
		case s.ch <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for s := range h.subs {
		close(s.ch)
	}
	h.subs = nil
}
