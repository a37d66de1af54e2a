package client

import (
	"context"
	"errors"
	"time"
)

// Handler receives each message once per message id (the server may
// deliver a message again until it is acked; the client de-duplicates).
// It runs on the poll goroutine: a slow handler delays the next poll.
type Handler func(ctx context.Context, m Message)

// StartPolling starts the poll loop, which runs until ctx ends or Close:
// getmessages for the device, each new message handed to handler and then
// acked. The wait between polls is max(PollInterval, the server's
// <pollinterval>) with ±PollJitter; the first poll comes after a random
// delay in [0, PollInterval). Failed polls back off with full jitter up to
// PollMaxInterval (a Retry-After is a floor); while Red they are the
// recovery probe. When Red turns Green through another call, the next poll
// comes after a random delay within RecoverySpread.
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
	if !c.polling.CompareAndSwap(false, true) {
		return ErrPolling
	}
	if !c.goroutine(func() {
		defer c.polling.Store(false)
		c.pollLoop(ctx, handler)
	}) {
		c.polling.Store(false)
		return ErrClosed
	}
	return nil
}

// goroutine runs f on a goroutine that Close waits for; false after Close.
func (c *Client) goroutine(f func()) bool {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closing {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// poller is the poll loop's own state.
type poller struct {
	seen idSet
	acks []string // ids to ack, kept across a failed ack
}

const (
	maxSeen = 4096   // message ids remembered for de-duplication
	maxAcks = 10_000 // pending acks kept when acks keep failing
)

func (c *Client) pollLoop(ctx context.Context, h Handler) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()

	p := &poller{seen: newIDSet(maxSeen)}
	first := time.Duration(0)
	if !c.cfg.DisableJitter {
		first = c.randDuration(c.cfg.PollInterval)
	}
	t := time.NewTimer(first)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.pollWake:
			if failures == 0 {
				continue
			}
			// Another call found the server again: poll within the
			// recovery spread instead of finishing a long backoff.
			failures = 0
			t.Reset(c.spread())
			continue
		case <-t.C:
		}
		next, err := c.pollOnce(ctx, h, p)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			c.log.Debug("poll failed", "failures", failures, "err", err)
			t.Reset(c.failureWait(failures, err))
			continue
		}
		failures = 0
		// A recovery signal this very poll caused is not news.
		select {
		case <-c.pollWake:
		default:
		}
		t.Reset(next)
	}
}

// pollOnce polls, hands new messages to h, acks, and returns the wait until
// the next poll.
func (c *Client) pollOnce(ctx context.Context, h Handler, p *poller) (time.Duration, error) {
	wasGreen := State(c.state.level.Load()) == Green
	msgs, err := c.GetMessages(ctx, c.cfg.PollMaxMessages)
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
		// the drain loop waits for its spread.
		if n, err := c.outbox.Len(ctx); err == nil && n > 0 {
			notify(c.drainKick)
		}
	}
	return c.pollWait(msgs.PollInterval), nil
}

// pollWait is max(PollInterval, server) with jitter, never below server.
func (c *Client) pollWait(server time.Duration) time.Duration {
	base := max(c.cfg.PollInterval, server)
	if c.cfg.DisableJitter {
		return base
	}
	j := c.cfg.PollJitter
	if server >= c.cfg.PollInterval {
		// Only upwards: the server's interval is a floor.
		return base + time.Duration(float64(base)*j*c.randFloat())
	}
	d := time.Duration(float64(base) * (1 + j*(2*c.randFloat()-1)))
	return max(d, server)
}

// failureWait is the full-jitter backoff after n consecutive failed polls,
// up to PollMaxInterval, never below the server's Retry-After.
func (c *Client) failureWait(n int, err error) time.Duration {
	d := c.cfg.PollInterval << uint(min(n-1, 30))
	if d > c.cfg.PollMaxInterval || d <= 0 {
		d = c.cfg.PollMaxInterval
	}
	if !c.cfg.DisableJitter {
		d = c.randDuration(d)
	}
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

// drainLoop delivers the outbox: on a kick (an enqueue while not Red, a
// poll finding leftovers) and, after a random delay within RecoverySpread,
// when Red turns Green.
func (c *Client) drainLoop() {
	defer c.wg.Done()
	var notBefore time.Time
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.recovered:
			notBefore = time.Now().Add(c.spread())
		case <-c.drainKick:
		}
		if d := time.Until(notBefore); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if State(c.state.level.Load()) == Red {
			continue
		}
		res, err := c.outbox.Drain(c.ctx, c.sendItem)
		if res.Sent > 0 || res.Dead > 0 || err != nil {
			c.log.Info("outbox drained", "sent", res.Sent, "dead", res.Dead, "err", err)
		}
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
