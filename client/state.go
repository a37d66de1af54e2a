package client

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// State is the reachability of the Registration Server, for a status light.
// The zero value is Unknown: no call has finished yet.
type State int

// States.
const (
	Unknown  State = iota // no call has finished yet
	Green                 // the last call reached an instance that answered
	Red                   // a call failed on every endpoint
	Shutdown              // Close was called; the state never changes again
)

// String returns "unknown", "green", "red" or "shutdown".
func (s State) String() string {
	switch s {
	case Green:
		return "green"
	case Red:
		return "red"
	case Shutdown:
		return "shutdown"
	default:
		return "unknown"
	}
}

// Problem is a failure of the account or of the configuration that the
// server reported and that no retry can fix: no queued item is blamed for
// it, and the outbox drain pauses until it is cleared. The zero value is
// NoProblem.
type Problem int

// Problems.
const (
	NoProblem Problem = iota
	// ProblemCredentials: the server refused the username or password
	// (-30100, -30101), or the Client has none. Ask the user to log in
	// again and call SetCredentials. The Client does not try the
	// rejected password again by itself.
	ProblemCredentials
	// ProblemAccount: the account is not activated or is disabled (-30102,
	// -30103). It clears when a login succeeds (SetCredentials tries one).
	ProblemAccount
	// ProblemConfig: the server rejects the request's checksum (-30201:
	// the salt changed), or answers a <teamdrive> document with an HTTP
	// 4xx. Queued items stay pending (a drain stops at the first one
	// refused) and sends still go to the server, so it clears at the
	// next call the server accepts.
	ProblemConfig
)

// ErrLoginRequired is returned, wrapping the server's answer, by calls that
// need a login while the server has refused the credentials
// (ProblemCredentials or ProblemAccount): the Client does not try them
// again by itself. Ask the user and call SetCredentials.
var ErrLoginRequired = errors.New("client: log in again: the server refused the credentials (call SetCredentials)")

// String returns "none", "credentials", "account" or "config".
func (p Problem) String() string {
	switch p {
	case ProblemCredentials:
		return "credentials"
	case ProblemAccount:
		return "account"
	case ProblemConfig:
		return "config"
	default:
		return "none"
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
	// Problem, when not NoProblem, says why the outbox drain is paused
	// although the server may be reachable; ProblemErr is the server's
	// answer that set it (never a password or a session).
	Problem    Problem
	ProblemErr error
}

// stateHolder keeps the state and broadcasts its changes: by closing a
// channel (WaitForStateChange) and through per-subscriber queues.
type stateHolder struct {
	level   atomic.Int32 // mirror of info.Level for the lock-free fast path
	tier    atomic.Int32 // mirror of info.Tier
	healthy atomic.Int32 // mirror of info.Healthy
	problem atomic.Int32 // mirror of info.Problem

	mu   sync.Mutex
	info StateInfo
	// redFrom is when the call that turned the state Red began: the
	// outage began no later.
	redFrom time.Time
	changed chan struct{} // closed and replaced on every change
	subs    map[*subscriber]struct{}
	closed  bool
}

func newStateHolder(total int) *stateHolder {
	return &stateHolder{
		info:    StateInfo{Total: total},
		changed: make(chan struct{}),
		subs:    make(map[*subscriber]struct{}),
	}
}

// update applies f to the info under the lock and broadcasts when Level,
// Tier, Healthy or Problem changed. It returns the previous and new level.
// After Shutdown nothing changes any more.
func (h *stateHolder) update(f func(*StateInfo)) (old, cur State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prev := h.info
	if prev.Level == Shutdown {
		return Shutdown, Shutdown
	}
	f(&h.info)
	if h.info.Level != prev.Level {
		h.info.Since = time.Now()
	}
	h.level.Store(int32(h.info.Level))
	h.tier.Store(int32(h.info.Tier))
	h.healthy.Store(int32(h.info.Healthy))
	h.problem.Store(int32(h.info.Problem))
	if h.info.Level != prev.Level || h.info.Tier != prev.Tier || h.info.Healthy != prev.Healthy || h.info.Problem != prev.Problem {
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

// close moves the state to Shutdown (subscribers and WaitForStateChange see
// it), then stops the subscribers. It waits for each subscriber goroutine
// except one whose callback is running: a callback that blocks must not
// block Close; its goroutine ends when the callback returns, and it is
// given nothing more.
func (h *stateHolder) close(log *slog.Logger) {
	h.update(func(i *StateInfo) { i.Level = Shutdown })
	h.mu.Lock()
	h.closed = true
	subs := h.subs
	h.subs = map[*subscriber]struct{}{}
	h.mu.Unlock()
	for s := range subs {
		if busy := s.finish(); busy {
			log.Warn("a state subscriber's callback is still running at Close; not waiting for it")
			continue
		}
		// It delivers what is queued, Shutdown last; Close waits until
		// it has exited or is in its callback with Shutdown.
		select {
		case <-s.exited:
		case <-s.last:
		}
	}
}

// State returns the current reachability state.
func (c *Client) State() StateInfo {
	info, _ := c.state.get()
	return info
}

// WaitForStateChange blocks until the level differs from s, and reports
// true, or until ctx ends, and reports false. Like grpc's
// ClientConn.WaitForStateChange, it returns at once when the level already
// differs; after Close the level is Shutdown, so a wait for any other level
// returns true at once.
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
	c.state.update(func(i *StateInfo) {
		s := c.pool.snap.Load() // under the state's lock: the newest wins
		i.Healthy = s.healthy
		i.Tier = s.serving
	})
}

// reached records a call that reached an instance: Green.
func (c *Client) reached() { c.reachedExcept(0) }

// reachedExcept records a call that reached an instance, the endpoints in
// failed having failed in it: Green. When it turns Red to Green, the
// endpoints ejected during the outage, except those in failed, return to
// rotation on probation.
func (c *Client) reachedExcept(failed uint64) {
	s := c.pool.snap.Load()
	h := c.state
	if State(h.level.Load()) == Green && Tier(h.tier.Load()) == s.serving && int(h.healthy.Load()) == s.healthy {
		return
	}
	if State(h.level.Load()) == Red && c.testHookReachedRed != nil {
		c.testHookReachedRed()
	}
	readmitted := 0
	old, cur := c.state.update(func(i *StateInfo) {
		if i.Level == Red {
			// Under the state's lock: only the call that turns Red to
			// Green readmits, not every one that saw Red (another would
			// readmit an endpoint that failed again meanwhile).
			readmitted = c.pool.readmitOnProbation(h.redFrom, failed)
		}
		s = c.pool.snap.Load() // under the state's lock: the newest wins
		i.Level = Green
		i.Healthy = s.healthy
		i.Tier = s.serving
	})
	if readmitted > 0 {
		c.log.Info("endpoints back in rotation on probation after an outage", "endpoints", readmitted)
	}
	if old != Green && cur == Green {
		c.log.Info("registration server reachable", "state", cur, "was", old, "tier", s.serving)
		switch old {
		case Red:
			var last time.Time
			if p := c.lastUnreachable.Load(); p != nil {
				last = *p
			}
			c.drainer.recovered(last)
			if l := c.poll.Load(); l != nil {
				l.wake()
			}
		case Unknown:
			// Items left from an earlier run go as soon as the server
			// answers, not after the next poll.
			c.drainer.kick()
		}
	}
}

// unreachable records a call, begun at start, that failed on every
// endpoint: Red.
func (c *Client) unreachable(err error, start time.Time) {
	now := time.Now() // with its monotonic reading: the drain's start counts from it
	c.lastUnreachable.Store(&now)
	h := c.state
	old, cur := h.update(func(i *StateInfo) {
		if i.Level != Red {
			h.redFrom = start
		}
		s := c.pool.snap.Load()
		i.Level = Red
		i.Healthy = s.healthy
		i.Tier = s.serving
		i.LastErr = err
	})
	if old != cur {
		c.log.Warn("registration server unreachable", "state", cur, "was", old, "err", err)
	}
}

// problem returns the current problem (lock-free).
func (c *Client) problem() Problem { return Problem(c.state.problem.Load()) }

// setProblem records a failure of the account or the configuration.
func (c *Client) setProblem(p Problem, err error) {
	_, _ = c.state.update(func(i *StateInfo) { i.Problem, i.ProblemErr = p, err })
	c.log.Warn("outbox paused: the server refused the account or the configuration", "problem", p, "err", err)
}

// clearProblem clears the problem if it is one of those listed (all when
// none is), and restarts the drain.
func (c *Client) clearProblem(only ...Problem) {
	p := c.problem()
	if p == NoProblem {
		return
	}
	if len(only) > 0 && !slices.Contains(only, p) {
		return
	}
	cleared := false
	c.state.update(func(i *StateInfo) {
		if i.Problem == p {
			i.Problem, i.ProblemErr = NoProblem, nil
			cleared = true
		}
	})
	if cleared {
		c.log.Info("outbox resumed", "problem was", p)
		c.drainer.kick()
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
// Level, Tier, Healthy or Problem, in order, from a goroutine of its own.
// Changes queue up (without bound) while fn runs, so a slow fn never blocks
// the client and never misses or reorders a change. The returned function
// unsubscribes. Close delivers Shutdown and then unsubscribes everyone
// (changes not yet delivered are dropped); it waits for each subscriber's
// goroutine to end, except one whose fn is running: a blocked fn never
// blocks Close, and its goroutine ends when fn returns.
func (c *Client) Subscribe(fn func(StateInfo)) (unsubscribe func()) {
	s := &subscriber{fn: fn, wake: make(chan struct{}, 1), exited: make(chan struct{}), last: make(chan struct{})}
	h := c.state
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return func() {}
	}
	h.subs[s] = struct{}{}
	s.push(h.info)
	h.mu.Unlock()
	go s.run()
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
	fn     func(StateInfo)
	wake   chan struct{}
	exited chan struct{} // closed when run returns
	last   chan struct{} // closed when the last change (Shutdown) is taken

	mu       sync.Mutex
	queue    []StateInfo
	stopped  bool // unsubscribed: nothing more is delivered
	finished bool // Close: deliver what is queued, then end
	lastOut  bool // last is closed
	inFn     bool
}

func (s *subscriber) push(i StateInfo) {
	s.mu.Lock()
	s.queue = append(s.queue, i)
	s.mu.Unlock()
	notify(s.wake)
}

// stop ends the subscription: fn is not called again. It reports whether
// fn is running now.
func (s *subscriber) stop() (busy bool) {
	s.mu.Lock()
	s.stopped = true
	s.queue = nil
	busy = s.inFn
	s.mu.Unlock()
	notify(s.wake)
	return busy
}

// finish ends the subscription after what is queued (Shutdown last) has
// been delivered. It reports whether fn is running now.
func (s *subscriber) finish() (busy bool) {
	s.mu.Lock()
	s.finished = true
	busy = s.inFn
	s.mu.Unlock()
	notify(s.wake)
	return busy
}

// take returns the next change to deliver (ok) and whether the
// subscription lives on (live). It marks fn as running.
func (s *subscriber) take() (i StateInfo, ok, live bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFn = false
	if s.stopped {
		return StateInfo{}, false, false
	}
	if len(s.queue) == 0 {
		s.queue = nil
		return StateInfo{}, false, !s.finished
	}
	i = s.queue[0]
	s.queue[0] = StateInfo{}
	s.queue = s.queue[1:]
	s.inFn = true
	if s.finished && len(s.queue) == 0 && !s.lastOut {
		s.lastOut = true
		close(s.last)
	}
	return i, true, true
}

func (s *subscriber) run() {
	defer close(s.exited)
	for range s.wake {
		for {
			i, ok, live := s.take()
			if !live {
				return
			}
			if !ok {
				break
			}
			s.fn(i)
		}
	}
}
