package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"time"

	"github.com/regfleet/regfleet/internal/scope"
	"golang.org/x/time/rate"
)

// Handler receives each message once per message id (the server may
// deliver a message again until it is acked; the client de-duplicates).
// It runs on the goroutine of the poll that received the message: a slow
// handler delays the next poll.
type Handler func(ctx context.Context, m Message)

// StartPolling starts the poll loop, which runs until ctx ends or Close:
// getmessages for the device, each new message handed to handler and then
// acked. The wait between polls is max(PollInterval, the server's
// <pollinterval>) with ±PollJitter; the first poll comes after a random
// delay in [0, PollInterval). After a failed poll the wait is half the time
// the polls have been failing, at least the poll interval (the server's
// <pollinterval> a floor) and at most PollMaxInterval, then jittered as a
// poll wait is (a Retry-After is a floor); while Red the polls are the
// recovery probe. When Red turns Green through another call, the next poll
// comes after a random delay within RecoverySpread.
//
// Between polls the loop holds a timer, not a goroutine: each poll runs on
// a goroutine of its own that ends with it, and Close waits for it.
//
// It fails with ErrNoDevice without a device id, ErrPolling when a loop
// already runs, and ErrClosed after Close.
func (c *Client) StartPolling(ctx context.Context, handler Handler) error {
	if handler == nil {
		return errors.New("client: StartPolling: nil handler")
	}
	if c.DeviceID() == "" {
		return ErrNoDevice
	}
	l := &pollLoop{c: c, h: handler, p: poller{seen: newIDSet(maxSeen)}}
	life := scope.New(ctx)              // a scope keeps no map of the polls' contexts (internal/scope)
	l.ctx, l.cancel = life, life.Cancel // before l is visible: Close may end it at once
	if !c.poll.CompareAndSwap(nil, l) {
		l.cancel()
		return ErrPolling
	}
	first := time.Duration(0)
	if !c.cfg.DisableJitter {
		first = c.randDuration(c.cfg.PollInterval)
	}
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closing {
		l.cancel()
		c.poll.Store(nil)
		return ErrClosed
	}
	c.wg.Add(1) // the loop, until finish
	// Both under l.mu: end (on ctx's end, maybe at once) then finds the
	// timer armed and stops it, and tick finds stopAfter set.
	l.mu.Lock()
	l.armed = true
	l.due = time.Now().Add(first)
	l.timer = time.AfterFunc(first, l.tick)
	l.stopAfter = context.AfterFunc(l.ctx, l.end)
	l.mu.Unlock()
	return nil
}

// poller is the poll loop's record of messages.
type poller struct {
	seen idSet
	acks []string // ids to ack, kept across a failed ack
}

const (
	maxSeen = 4096   // message ids remembered for de-duplication
	maxAcks = 10_000 // pending acks kept when acks keep failing
)

// pollLoop is a running poll loop. The Client's WaitGroup counts it from
// StartPolling to finish, whether a timer is armed or a poll runs.
type pollLoop struct {
	c         *Client
	h         Handler
	p         poller // used by one poll at a time
	ctx       context.Context
	cancel    context.CancelFunc
	stopAfter func() bool

	mu       sync.Mutex
	timer    *time.Timer
	armed    bool      // the timer will start the next poll
	due      time.Time // when the armed timer is due
	running  bool      // a poll is in progress
	woken    bool      // Red turned Green while this poll ran or was about to
	failures int       // consecutive failed polls
	// failingSince is when the first of them ended.
	failingSince time.Time
	ended        bool
}

// tick runs one poll on the timer's goroutine and arms the timer for the
// next.
func (l *pollLoop) tick() {
	l.mu.Lock()
	l.armed = false
	if l.ctx.Err() != nil {
		l.finishLocked()
		l.mu.Unlock()
		return
	}
	l.running = true
	due := l.due
	l.mu.Unlock()

	next, err := l.c.pollOnce(l.ctx, due, l.h, &l.p)

	l.mu.Lock()
	defer l.mu.Unlock()
	l.running = false
	if l.ctx.Err() != nil {
		l.finishLocked()
		return
	}
	woken := l.woken
	l.woken = false
	switch {
	case err != nil && woken:
		// Another call found the server again while this poll failed:
		// poll within the recovery spread instead of backing off.
		l.failures = 0
		next = l.c.spread()
	case err != nil:
		l.failures++
		if l.failures == 1 {
			l.failingSince = time.Now()
		}
		l.c.log.Debug("poll failed", "failures", l.failures, "err", err)
		next = l.c.failureWait(time.Since(l.failingSince), err)
	default:
		l.failures = 0
	}
	l.armed = true
	l.due = time.Now().Add(next)
	l.timer.Reset(next)
}

// wake is told that Red turned Green: a loop backing off after failed
// polls polls again within the recovery spread.
func (l *pollLoop) wake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.running:
		l.woken = true
	case !l.armed || l.failures == 0:
	case l.timer.Stop():
		l.failures = 0
		d := l.c.spread()
		l.due = time.Now().Add(d)
		l.timer.Reset(d)
	default:
		// The timer has fired and tick is about to take the lock: the
		// poll it starts learns of the recovery.
		l.woken = true
	}
}

// end stops the loop: at once between polls, after the poll in progress
// otherwise (it is canceled).
func (l *pollLoop) end() {
	l.cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.armed && l.timer.Stop() {
		l.armed = false
		l.finishLocked()
	}
}

// finishLocked releases the loop once no timer is armed and no poll runs.
func (l *pollLoop) finishLocked() {
	if l.ended {
		return
	}
	l.ended = true
	l.stopAfter() // first: cancel must not start end on a goroutine of its own
	l.cancel()
	l.c.poll.Store(nil) // l is the loop poll holds: the next StartPolling may begin
	l.c.wg.Done()
}

// pollOnce polls, hands new messages to h, acks, and returns the wait until
// the next poll, which was due at due.
func (c *Client) pollOnce(ctx context.Context, due time.Time, h Handler, p *poller) (time.Duration, error) {
	wasGreen := State(c.state.level.Load()) == Green
	msgs, err := c.GetMessages(withDue(ctx, due), c.cfg.PollMaxMessages)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs.Messages {
		if p.seen.add(m.ID) {
			h(ctx, m)
		}
		p.acks = append(p.acks, m.ID)
	}
	if len(p.acks) > 0 {
		if _, err := c.AckMessages(ctx, p.acks); err == nil {
			p.acks = p.acks[:0]
		} else if len(p.acks) > maxAcks {
			p.acks = append(p.acks[:0], p.acks[len(p.acks)-maxAcks:]...)
		}
	}
	if wasGreen {
		// Leftovers of an interrupted drain go now; after a recovery
		// the drain waits for its spread.
		if n, err := c.outbox.Len(ctx); err == nil && n > 0 {
			c.drainer.kick()
		}
	}
	if old := c.serverPoll.Swap(int64(msgs.PollInterval)); old != int64(msgs.PollInterval) {
		c.paceDrain(msgs.PollInterval)
	}
	return c.pollWait(msgs.PollInterval), nil
}

// paceDrain slows the outbox drain as the server slows the polls: when its
// <pollinterval> is k times Config.PollInterval, items go k times slower
// than Config.DrainRate (a server that asks its clients to back off after
// an outage, seed 001's mitigation, gets its drain spread too); back to
// DrainRate when it asks for no more than PollInterval.
func (c *Client) paceDrain(server time.Duration) {
	r := c.cfg.DrainRate
	if server > c.cfg.PollInterval && c.cfg.PollInterval > 0 {
		r *= float64(c.cfg.PollInterval) / float64(server)
	}
	c.drainRate.SetLimit(rate.Limit(r))
}

// DrainRate returns the rate, in items per second, at which the outbox is
// delivered now: Config.DrainRate, slowed as the server slows the polls.
func (c *Client) DrainRate() float64 { return float64(c.drainRate.Limit()) }

// PollInterval returns the wait between polls the poll loop keeps to, before
// jitter: Config.PollInterval, or the server's <pollinterval> when the last
// poll's reply asked for a longer one.
func (c *Client) PollInterval() time.Duration {
	return max(c.cfg.PollInterval, time.Duration(c.serverPoll.Load()))
}

// dueKey is the context key of a dueMark.
type dueKey struct{}

// dueMark carries the time a scheduled action was due to the first call
// it makes (CallInfo.Due).
type dueMark struct {
	at    time.Time
	taken atomic.Bool
}

// withDue marks ctx's first call as due at due.
func withDue(ctx context.Context, due time.Time) context.Context {
	return context.WithValue(ctx, dueKey{}, &dueMark{at: due})
}

// takeDue returns the due time ctx carries, once: the first call of the
// action gets it, those after it (a login, then the poll) do not.
func takeDue(ctx context.Context) time.Time {
	m, ok := ctx.Value(dueKey{}).(*dueMark)
	if !ok || !m.taken.CompareAndSwap(false, true) {
		return time.Time{}
	}
	return m.at
}

// pollWait is max(PollInterval, server) with jitter, never below server.
func (c *Client) pollWait(server time.Duration) time.Duration {
	return c.jitter(max(c.cfg.PollInterval, server), server)
}

// jitter spreads the wait d by ±PollJitter, or only upwards when the
// server's <pollinterval> server is at least PollInterval: it is a floor.
func (c *Client) jitter(d, server time.Duration) time.Duration {
	if c.cfg.DisableJitter {
		return d
	}
	j := c.cfg.PollJitter
	if server >= c.cfg.PollInterval {
		return d + time.Duration(float64(d)*j*c.randFloat())
	}
	return max(time.Duration(float64(d)*(1+j*(2*c.randFloat()-1))), server)
}

// failureWait is the wait after a failed poll, the first of the run of
// failed polls having ended failing ago: half of failing, at least the
// poll interval (PollInterval, the last <pollinterval> the server asked
// for as a floor) and at most PollMaxInterval (or that <pollinterval>
// when longer), then jittered as a poll wait is (so up to PollJitter
// above the cap), never below the server's Retry-After.
//
// While Red the poll is the recovery probe, so this wait is how late the
// light may turn green after the server is back. It grows with the outage
// so far, not with the count of failures: after a 60 s outage the light
// turns green within about one poll interval, after ten minutes within
// PollMaxInterval. It is not full jitter: a fleet's polls are already
// spread over the interval (each client fails at its own poll time), and
// full jitter would halve the mean wait, which doubles the probes while
// the server is down and sends a burst of first polls when it returns.
// Drawn as a poll wait is, the probes continue the fleet's polls at their
// steady rate, before, during and after the outage.
func (c *Client) failureWait(failing time.Duration, err error) time.Duration {
	server := time.Duration(c.serverPoll.Load())
	d := min(max(c.PollInterval(), failing/2), max(c.cfg.PollMaxInterval, server))
	d = c.jitter(d, server)
	var ce *CallError
	if errors.As(err, &ce) && ce.RetryAfter > d {
		d = ce.RetryAfter
	}
	return d
}

// spread is the random delay after a recovery.
func (c *Client) spread() time.Duration {
	if c.cfg.DisableJitter {
		return 0
	}
	return c.randDuration(c.cfg.RecoverySpread)
}

// drainer delivers the outbox when a drain is wanted: on a kick (an
// enqueue while not Red, a poll finding leftovers) at once, and when Red
// turns Green after a random delay within RecoverySpread. Like the poll
// loop it holds a timer while idle, and runs a drain on the timer's
// goroutine; the Client's WaitGroup counts an armed timer or a running
// drain, so Close waits for it.
type drainer struct {
	c *Client

	mu        sync.Mutex
	timer     *time.Timer
	armed     bool      // the timer will start a drain
	running   bool      // a drain is in progress
	again     bool      // another drain was wanted while one ran
	closed    bool      // Close has begun: no more drains
	notBefore time.Time // no drain starts before this (the recovery spread)
}

// kick asks for a drain as soon as the recovery spread allows.
func (d *drainer) kick() { d.want(time.Time{}) }

// recovered asks for a drain after a random delay within RecoverySpread,
// counted from lastFailed, the last call that failed on every endpoint
// (from now if there was none): the server came back after it. A fleet
// notices a recovery over a whole poll interval, each client at its next
// probe; counted from each one's notice, the drains would spread over the
// spread and that interval together, and the last would start that much
// later. Counted from the last failure, they spread over RecoverySpread
// from about the server's return, and a client whose draw has passed
// starts at once.
func (d *drainer) recovered(lastFailed time.Time) {
	from := time.Now()
	if !lastFailed.IsZero() && lastFailed.Before(from) {
		from = lastFailed
	}
	d.want(from.Add(d.c.spread()))
}

func (d *drainer) want(notBefore time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	later := notBefore.After(d.notBefore)
	if later {
		d.notBefore = notBefore
	}
	switch {
	case d.running:
		d.again = true
	case d.armed:
		// A later start pushes the armed drain back; if the timer has
		// just fired, tick finds the new start itself.
		if later && d.timer.Stop() {
			d.timer.Reset(time.Until(d.notBefore))
		}
	default:
		d.c.wg.Add(1) // until the drain ends; closed is false, so Close has not begun waiting
		d.armed = true
		if d.timer == nil {
			d.timer = time.AfterFunc(time.Until(d.notBefore), d.tick)
		} else {
			d.timer.Reset(time.Until(d.notBefore))
		}
	}
}

func (d *drainer) tick() {
	d.mu.Lock()
	d.armed = false
	if d.closed {
		d.mu.Unlock()
		d.c.wg.Done()
		return
	}
	if w := time.Until(d.notBefore); w > 0 {
		d.armed = true
		d.timer.Reset(w)
		d.mu.Unlock()
		return
	}
	d.running, d.again = true, false
	d.mu.Unlock()

	d.c.drainOnce()

	d.mu.Lock()
	d.running = false
	if d.again && !d.closed {
		d.armed = true
		d.timer.Reset(time.Until(d.notBefore))
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	d.c.wg.Done()
}

// close stops further drains; a drain in progress ends on the Client's
// canceled context.
func (d *drainer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.armed && d.timer.Stop() {
		d.armed = false
		d.c.wg.Done()
	}
}

// drainOnce delivers what the outbox holds, unless the client is Red.
func (c *Client) drainOnce() {
	if State(c.state.level.Load()) == Red || c.loginPaused() {
		return
	}
	res, err := c.outbox.Drain(c.ctx, c.sendItem)
	if res.Sent > 0 || res.Dead > 0 || err != nil {
		c.log.Info("outbox drained", "sent", res.Sent, "dead", res.Dead, "err", err)
	}
}

// idSet remembers the last max ids. It grows with use: most clients see a
// handful of messages, and a desktop fleet (or a load generator running
// thousands of clients) should not pay for the largest case up front.
type idSet struct {
	m    map[string]struct{}
	ring []string // the ids in arrival order, once full a circular buffer
	pos  int      // next slot to overwrite once len(ring) == max
	max  int
}

func newIDSet(max int) idSet { return idSet{m: make(map[string]struct{}), max: max} }

// add records id and reports whether it is new.
func (s *idSet) add(id string) bool {
	if _, ok := s.m[id]; ok {
		return false
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, id)
	} else {
		delete(s.m, s.ring[s.pos])
		s.ring[s.pos] = id
		s.pos = (s.pos + 1) % s.max
	}
	s.m[id] = struct{}{}
	return true
}
