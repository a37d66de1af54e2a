package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// TimeoutError reports an attempt that got no reply within its share of
// the time: AttemptTimeout, or less when the caller's deadline is near and
// another endpoint could still be tried.
type TimeoutError struct {
	After time.Duration
}

// Error says how long the attempt waited.
func (e *TimeoutError) Error() string {
	return "no reply within " + strconv.FormatFloat(e.After.Seconds(), 'f', -1, 64) + " s"
}

// Timeout reports true (net.Error).
func (e *TimeoutError) Timeout() bool { return true }

// Temporary reports true (net.Error).
func (e *TimeoutError) Temporary() bool { return true }

// attemptBudget is the time the next attempt may take: AttemptTimeout, but
// when the caller's deadline is near and another endpoint could be tried
// after this one, half the time left, so that a black hole never takes the
// whole deadline from the endpoint that would answer.
func (cs *call) attemptBudget() time.Duration {
	c := cs.c
	d := c.cfg.AttemptTimeout
	if dl, ok := cs.ctx.Deadline(); ok {
		left := time.Until(dl)
		if len(c.pool.all) > 1 && cs.attempts+1 < c.cfg.MaxAttempts {
			left /= 2
		}
		d = min(d, left)
	}
	return max(d, time.Millisecond)
}

// RoundTrip is the transport of the call's attempts: it bounds the attempt
// by attemptBudget (reply body included: the deadline ends when the body is
// closed) and, when no reply has come within HedgeDelay and another
// endpoint is healthy, sends the same request there too (a hedge; safe
// because mutating commands carry a requestid the server de-duplicates)
// and keeps the first reply.
func (cs *call) RoundTrip(r *http.Request) (*http.Response, error) {
	c := cs.c
	budget := cs.attemptBudget()
	actx, cancel := context.WithTimeoutCause(r.Context(), budget, errAttemptTimeout)
	var h *hedge
	if d := c.cfg.HedgeDelay; d > 0 && d < budget && cs.hedgeable && len(c.pool.all) > 1 {
		// A hedge that wins ends the primary with its own cancel.
		h = &hedge{cs: cs, tried: cs.tried | cs.cur.bit, req: r, cancelPrimary: cancel}
		h.ctx, h.cancel = context.WithCancel(cs.ctx)
		h.done = make(chan struct{})
		h.timer = time.AfterFunc(d, h.run)
	}
	resp, err := c.rt.RoundTrip(r.WithContext(actx))
	if err != nil && errors.Is(context.Cause(actx), errAttemptTimeout) && cs.ctx.Err() == nil {
		err = &TimeoutError{After: budget}
	}
	if err == nil {
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	} else {
		cancel()
	}
	if h != nil {
		return h.settle(resp, err)
	}
	return resp, err
}

// hedge is the second request of an attempt. Its goroutine (the timer's)
// touches only its own fields until done is closed; the caller's goroutine
// merges its record into the call in settle.
type hedge struct {
	cs            *call
	req           *http.Request // the primary's request, cloned for each hedge
	tried         uint64        // endpoints the hedge must not use
	cancelPrimary context.CancelFunc
	ctx           context.Context // the hedge's, canceled when the primary wins
	cancel        context.CancelFunc
	timer         *time.Timer
	done          chan struct{} // closed when run ends, if it started

	mu    sync.Mutex
	state int // hedgeArmed, hedgeRunning, hedgeSettled, hedgeWon

	// Written by run before done is closed.
	resp  *http.Response
	e     *endpoint
	fails []hedgeFailure
}

const (
	hedgeArmed   = iota // the timer has not fired
	hedgeRunning        // hedge requests are on the wire
	hedgeSettled        // the primary finished first: the hedge lost
	hedgeWon            // a hedge request got a reply first
)

type hedgeFailure struct {
	e   *endpoint
	err error
}

// statusErr is the failure of a hedge request on e answered with a status
// other than 200: an *HTTPError for the statuses that say the server is
// busy or failing, ErrNotRegistrationServer for the others (a proxy's page).
func (cs *call) statusErr(resp *http.Response, e *endpoint) error {
	code := resp.StatusCode
	if code >= 500 || retryableStatus(code) {
		return &HTTPError{StatusCode: code, Command: cs.cmd, Endpoint: e.name, RetryAfter: cs.c.parseRetryAfter(resp.Header.Get("Retry-After"))}
	}
	return fmt.Errorf("%w: HTTP %d", ErrNotRegistrationServer, code)
}

// run sends the hedge: to the next healthy endpoint not tried, and on a
// failure without a reply (a refused connection) to the one after, while
// the retry budget allows.
func (h *hedge) run() {
	h.mu.Lock()
	if h.state != hedgeArmed {
		h.mu.Unlock()
		return
	}
	h.state = hedgeRunning
	h.mu.Unlock()
	defer close(h.done)
	cs := h.cs
	c := cs.c
	for h.ctx.Err() == nil {
		e := c.pool.pick(h.tried, true)
		if e == nil {
			return
		}
		if !c.budget.allowRetry(time.Now()) {
			c.stats.denied.Add(1)
			return
		}
		c.stats.hedges.Add(1)
		h.tried |= e.bit
		budget := h.cs.attemptBudget()
		actx, cancel := context.WithTimeoutCause(h.ctx, budget, errAttemptTimeout)
		r := h.req.Clone(actx)
		h.cs.target(r, e)
		r.Body, _ = h.cs.getBody()
		resp, err := c.rt.RoundTrip(r)
		if err == nil && resp.StatusCode != http.StatusOK {
			// Only a reply wins: an error status from the hedge's
			// endpoint is its failure, and the primary goes on.
			err = cs.statusErr(resp, e)
			drainClose(resp.Body)
			cancel()
			h.fails = append(h.fails, hedgeFailure{e, err})
			continue
		}
		if err == nil {
			h.mu.Lock()
			lost := h.state == hedgeSettled
			if !lost {
				h.state = hedgeWon
			}
			h.mu.Unlock()
			if lost {
				drainClose(resp.Body)
				cancel()
				return
			}
			resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: func() { cancel(); h.cancel() }}
			h.resp, h.e = resp, e
			h.cancelPrimary()
			return
		}
		cancel()
		if h.ctx.Err() != nil {
			return
		}
		if errors.Is(context.Cause(actx), errAttemptTimeout) {
			err = &TimeoutError{After: budget}
		}
		h.fails = append(h.fails, hedgeFailure{e, redactErr(err)})
	}
}

// settle decides between the primary's outcome (resp, err) and the hedge,
// on the caller's goroutine, and records the hedge's attempts in the call.
func (h *hedge) settle(resp *http.Response, err error) (*http.Response, error) {
	h.mu.Lock()
	st := h.state
	if st != hedgeWon {
		h.state = hedgeSettled
	}
	h.mu.Unlock()
	switch st {
	case hedgeArmed:
		h.timer.Stop()
		h.cancel()
		return resp, err
	case hedgeRunning:
		// The primary finished first (reply or failure): the hedge is
		// no longer needed.
		h.cancel()
		<-h.done
		h.record()
		return resp, err
	}
	// The hedge got a reply first: the primary is canceled, and counted
	// as a failure of its endpoint (no reply within HedgeDelay while
	// another endpoint answered).
	<-h.done
	cs := h.cs
	if resp != nil {
		drainClose(resp.Body)
	}
	cs.attempted(cs.cur)
	cs.failedOn(cs.cur, 0, &TimeoutError{After: cs.c.cfg.HedgeDelay})
	h.record()
	cs.cur = h.e
	return h.resp, nil
}

// record adds the hedge's failed requests to the call. The winner, if any,
// is recorded by checkRetry as the call's current attempt.
func (h *hedge) record() {
	cs := h.cs
	for _, f := range h.fails {
		cs.attempted(f.e)
		var he *HTTPError
		ra := time.Duration(0)
		if errors.As(f.err, &he) {
			ra = he.RetryAfter
		}
		cs.failedOn(f.e, ra, f.err)
	}
}
