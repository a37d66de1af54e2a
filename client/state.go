package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// State is the reachability of the Registration Server, for a status light.
// The zero value is Unknown: no call has finished yet.
type State int

// States.
const (
	Unknown State = iota // no call has finished yet
	Green                // the last call reached an instance that answered
	Red                  // a call failed on every endpoint
)

// String returns "unknown", "green" or "red".
func (s State) String() string {
	switch s {
	case Green:
		return "green"
	case Red:
		return "red"
	default:
		return "unknown"
	}
}

// StateInfo describes the reachability state.
type StateInfo struct {
	Level   State
	Healthy int       // endpoints in rotation and healthy
	Total   int       // all endpoints, primary and backup
	Tier    Tier      // the best tier with a healthy endpoint
	Since   time.Time // when Level last changed
	LastErr error     // the error that turned the state Red, if any
}

// stateHolder keeps the state and broadcasts its changes: by closing a
// channel (WaitForStateChange) and through per-subscriber queues.
type stateHolder struct {
	level atomic.Int32 // mirror of info.Level for the lock-free fast path
	tier  atomic.Int32 // mirror of info.Tier

	mu      sync.Mutex
	info    StateInfo
	changed chan struct{} // closed and replaced on every change
	subs    map[*subscriber]struct{}
	closed  bool
	wg      sync.WaitGroup
}

func newStateHolder(total int) *stateHolder {
	return &stateHolder{
		info:    StateInfo{Total: total},
		changed: make(chan struct{}),
		subs:    make(map[*subscriber]struct{}),
	}
}

// update applies f to the info under the lock and broadcasts when Level or
// Tier changed. It returns the previous and new level.
func (h *stateHolder) update(f func(*StateInfo)) (old, cur State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prev := h.info
	f(&h.info)
	if h.info.Level != prev.Level {
		h.info.Since = time.Now()
	}
	h.level.Store(int32(h.info.Level))
	h.tier.Store(int32(h.info.Tier))
	if h.info.Level != prev.Level || h.info.Tier != prev.Tier {
		close(h.changed)
		h.changed = make(chan struct{})
		for s := range h.subs {
			s.push(h.info)
		}
	}
	return prev.Level, h.info.Level
}

func (h *stateHolder) get() (StateInfo, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.info, h.changed
}

func (h *stateHolder) close() {
	h.mu.Lock()
	h.closed = true
	subs := h.subs
	h.subs = map[*subscriber]struct{}{}
	h.mu.Unlock()
	for s := range subs {
		s.stop()
	}
	h.wg.Wait()
}

// State returns the current reachability state.
func (c *Client) State() StateInfo {
	info, _ := c.state.get()
	return info
}

// WaitForStateChange blocks until the level differs from s, and reports
// true, or until ctx ends, and reports false. Like grpc's
// ClientConn.WaitForStateChange, it returns at once when the level already
// differs.
func (c *Client) WaitForStateChange(ctx context.Context, s State) bool {
	for {
		info, ch := c.state.get()
		if info.Level != s {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

// refreshState recomputes Healthy and Tier from the pool's snapshot.
func (c *Client) refreshState() {
	s := c.pool.snap.Load()
	c.state.update(func(i *StateInfo) {
		i.Healthy = s.healthy
		i.Tier = s.serving
	})
}

// reached records a call that reached an instance: Green.
func (c *Client) reached() {
	s := c.pool.snap.Load()
	if State(c.state.level.Load()) == Green && Tier(c.state.tier.Load()) == s.serving {
		return
	}
	old, cur := c.state.update(func(i *StateInfo) {
		i.Level = Green
		i.Healthy = s.healthy
		i.Tier = s.serving
	})
	if old != Green && cur == Green {
		c.log.Info("registration server reachable", "state", cur, "was", old, "tier", s.serving)
		if old == Red {
			c.drainer.recovered()
			if l := c.poll.Load(); l != nil {
				l.wake()
			}
		}
	}
}

// unreachable records a call that failed on every endpoint: Red.
func (c *Client) unreachable(err error) {
	s := c.pool.snap.Load()
	old, cur := c.state.update(func(i *StateInfo) {
		i.Level = Red
		i.Healthy = s.healthy
		i.Tier = s.serving
		i.LastErr = err
	})
	if old != cur {
		c.log.Warn("registration server unreachable", "state", cur, "was", old, "err", err)
	}
}

// notify does a non-blocking send on a signal channel of capacity 1.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Subscribe calls fn with the current state and then with every change of
// level or tier, in order, from a goroutine of its own. Changes queue up
// (without bound) while fn runs, so a slow fn never blocks the client and
// never misses or reorders a transition. fn must return; the returned
// function unsubscribes, and Close unsubscribes everyone (changes not yet
// delivered are then dropped). fn must not call Close, which waits for
// every subscriber to return: stop the client from another goroutine.
func (c *Client) Subscribe(fn func(StateInfo)) (unsubscribe func()) {
	s := &subscriber{fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{})}
	h := c.state
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return func() {}
	}
	h.subs[s] = struct{}{}
	s.push(h.info)
	h.wg.Add(1)
	h.mu.Unlock()
	go s.run(&h.wg)
	return func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
		s.stop()
	}
}

// subscriber owns an unbounded FIFO of state changes and the goroutine that
// delivers them.
type subscriber struct {
	fn   func(StateInfo)
	wake chan struct{}
	done chan struct{}
	once sync.Once

	mu    sync.Mutex
	queue []StateInfo
}

func (s *subscriber) push(i StateInfo) {
	s.mu.Lock()
	s.queue = append(s.queue, i)
	s.mu.Unlock()
	notify(s.wake)
}

func (s *subscriber) stop() { s.once.Do(func() { close(s.done) }) }

func (s *subscriber) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		for {
			select {
			case <-s.done:
				return
			default:
			}
			s.mu.Lock()
			if len(s.queue) == 0 {
				s.queue = nil
				s.mu.Unlock()
				break
			}
			i := s.queue[0]
			s.queue[0] = StateInfo{}
			s.queue = s.queue[1:]
			s.mu.Unlock()
			s.fn(i)
		}
	}
}
