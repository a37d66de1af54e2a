package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Endpoint health states.
const (
	epHealthy int32 = iota // in rotation
	epEjected              // out of rotation until a probe or a call finds it healthy
)

// maxLevel bounds the doublings of the ejection time.
const maxLevel = 20

// healthPath is the health check below a published base URL (PROTOCOL.md:
// 200 while the instance can serve, 503 otherwise).
const healthPath = "/healthz"

// success records an attempt that reached the Registration Server (a result
// or an exception reply): the endpoint is healthy. The common case takes no
// lock.
func (p *pool) success(e *endpoint) {
	if e.fails.Load() != 0 {
		e.fails.Store(0)
	}
	if e.state.Load() == epHealthy {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	changed := p.healthyLocked(e)
	p.mu.Unlock()
	if changed {
		// The caller's reached() publishes the new tier together with
		// the level, so subscribers see one event, not two.
		p.c.log.Info("endpoint healthy", "endpoint", e.name)
	}
}

// healthyLocked puts e back in rotation and reports whether it was out.
// Caller holds p.mu.
func (p *pool) healthyLocked(e *endpoint) bool {
	if e.state.Load() == epHealthy {
		return false
	}
	e.state.Store(epHealthy)
	e.healthySince = time.Now()
	e.gen++
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	p.rebuildLocked()
	return true
}

// readmitOnProbation puts back in rotation, after an outage of every
// endpoint that began at from, those ejected during it and not held by a
// Retry-After, one failure from their next ejection, except those in
// failed (they failed in the call or probe that found the server again:
// no guess about them is needed). It returns how many it readmitted. When
// Red turns Green through one endpoint, the others most likely came back
// with it: probing each would send the server one health check per client
// and endpoint as the whole fleet recovers (a herd of its own, as large as
// the polls), where the next calls tell as much. Like Envoy's outlier
// detection, an ejected endpoint returns without a probe; unlike it, one
// failure, which the call survives by failing over, ejects it again for
// longer. An endpoint ejected before the outage (dead while others
// served) stays out until its probe finds it healthy: it did not go down
// with the others, and readmitting it would make a user's call its trial
// after every outage. The caller holds the state's lock (the order is the
// state's lock, then p.mu), so that only the transition from Red
// readmits.
func (p *pool) readmitOnProbation(from time.Time, failed uint64) int {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0
	}
	n := 0
	for _, e := range p.all {
		if e.state.Load() != epEjected || failed&e.bit != 0 || now.Before(e.holdUntil) || e.ejectedAt.Before(from) {
			continue
		}
		p.healthyLocked(e)
		e.fails.Store(int32(max(p.c.cfg.FailureThreshold-1, 0)))
		n++
	}
	return n
}

// failure records a transient failure of an attempt on e. retryAfter > 0
// holds the endpoint for that long (the server asked for it). A failure
// that does not count (a 429: the server answered and asked to slow down)
// only holds.
func (p *pool) failure(e *endpoint, retryAfter time.Duration, counts bool) {
	var n int32
	if counts {
		n = e.fails.Add(1)
	}
	now := time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	var hold time.Duration
	if retryAfter > 0 {
		if until := now.Add(retryAfter); until.After(e.holdUntil) {
			e.holdUntil = until
		}
		hold = e.holdUntil.Sub(now)
	}
	ejected := false
	switch st := e.state.Load(); {
	case st == epHealthy && counts && int(n) >= p.c.cfg.FailureThreshold:
		p.ejectLocked(e, now, hold)
		ejected = true
	case st == epHealthy && hold > 0:
		// The server asked for a pause: honour exactly that, without
		// counting it as an ejection that doubles the next one.
		p.armLocked(e, hold)
		ejected = true
	case st == epEjected && hold > 0:
		// A panic-mode attempt was told to come back later.
		p.ejectLocked(e, now, hold)
	}
	p.mu.Unlock()
	if ejected {
		p.c.log.Warn("endpoint ejected", "endpoint", e.name, "failures", n, "retry_after", retryAfter)
		p.c.refreshState()
	}
}

// ejectLocked takes e out of rotation for EjectionTime·2^level (capped, plus
// up to 25% jitter, at least hold) and arms the timer that probes it then.
// Caller holds p.mu.
func (p *pool) ejectLocked(e *endpoint, now time.Time, hold time.Duration) {
	cfg := p.c.cfg
	level := e.level
	if e.state.Load() == epHealthy && !e.healthySince.IsZero() && cfg.EjectionDecay > 0 {
		level -= int(now.Sub(e.healthySince) / cfg.EjectionDecay)
	}
	level = max(0, min(level, maxLevel))
	d := max(p.ejectionTime(level), hold)
	e.level = min(level+1, maxLevel)
	e.fails.Store(0)
	p.armLocked(e, d)
}

// ejectionTime is EjectionTime·2^level, capped, plus up to 25% jitter.
func (p *pool) ejectionTime(level int) time.Duration {
	cfg := p.c.cfg
	d := cfg.EjectionTime << uint(level)
	if d > cfg.MaxEjectionTime || d <= 0 {
		d = cfg.MaxEjectionTime
	}
	return d + p.c.randDuration(d/4)
}

// armLocked takes e out of rotation for d, then probes it. Caller holds
// p.mu.
func (p *pool) armLocked(e *endpoint, d time.Duration) {
	if e.state.Load() == epHealthy {
		e.ejectedAt = time.Now()
	}
	e.state.Store(epEjected)
	e.ejections.Add(1)
	e.gen++
	gen := e.gen
	if e.timer != nil {
		e.timer.Stop()
	}
	e.armProbe(d, func() { p.endEjection(e, gen) })
	p.rebuildLocked()
}

// endEjection probes e off the users' path (on the timer's goroutine) when
// its ejection ends while another endpoint serves: back in rotation if it
// answers, ejected again for longer if not. No user's call waits for the
// verdict. The probe counts against the retry budget; when the budget is
// spent, or while the state is Red, it is put off.
func (p *pool) endEjection(e *endpoint, gen uint64) {
	c := p.c
	if !c.track() {
		return
	}
	defer c.wg.Done()
	p.mu.Lock()
	if p.closed || e.gen != gen || e.state.Load() != epEjected {
		p.mu.Unlock()
		return
	}
	e.timer = nil
	due := e.probeDue
	if State(c.state.level.Load()) == Red {
		// No endpoint answers: the poll loop is the recovery probe, with
		// its jittered backoff, and every call tries the ejected
		// endpoints (panic mode). Probes from every client of a fleet at
		// the end of their ejections would be a herd of their own.
		e.armProbe(p.ejectionTime(max(e.level-1, 0)), func() { p.endEjection(e, gen) })
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if !c.budget.allowRetry(time.Now()) {
		c.stats.denied.Add(1)
		p.mu.Lock()
		if !p.closed && e.gen == gen {
			e.armProbe(max(c.cfg.RetryBudgetWindow/10, time.Second), func() { p.endEjection(e, gen) })
		}
		p.mu.Unlock()
		return
	}
	err := c.probeEndpoint(c.ctx, e, c.cfg.AttemptTimeout, due)
	p.mu.Lock()
	if p.closed || e.gen != gen {
		// Close, or a call found it healthy meanwhile.
		p.mu.Unlock()
		return
	}
	if err != nil {
		p.ejectLocked(e, time.Now(), 0)
		p.mu.Unlock()
		c.log.Debug("endpoint probe failed", "endpoint", e.name, "err", err)
		return
	}
	p.healthyLocked(e)
	p.mu.Unlock()
	c.log.Info("endpoint healthy", "endpoint", e.name, "probe", true)
	c.reached()
}

// probeEndpoint asks e's /healthz, within timeout, whether it can serve.
// It is reported to Config.OnCall as the command "healthz", with due, when
// the probe was due (zero for one the application asked for).
func (c *Client) probeEndpoint(ctx context.Context, e *endpoint, timeout time.Duration, due time.Time) error {
	e.probes.Add(1)
	start := time.Now()
	err := c.getHealth(ctx, e, timeout)
	if c.cfg.OnCall != nil {
		c.cfg.OnCall(CallInfo{Command: "healthz", Start: start, Due: due, Duration: time.Since(start), Attempts: 1, Endpoint: e.name, Err: err})
	}
	return err
}

func (c *Client) getHealth(ctx context.Context, e *endpoint, timeout time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errAttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.health.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errAttemptTimeout) {
			return &TimeoutError{After: timeout}
		}
		return redactErr(err)
	}
	var b [64]byte
	n, _ := io.ReadFull(resp.Body, b[:])
	drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: HTTP %d", resp.StatusCode)
	}
	// A captive portal answers 200 to anything: the body must be the
	// server's "ok".
	if !bytes.Equal(bytes.TrimSpace(b[:n]), []byte("ok")) {
		return fmt.Errorf("%w: health check answered something other than ok", ErrNotRegistrationServer)
	}
	return nil
}

// Probe checks now whether the Registration Server is reachable, ignoring
// every backoff, ejection and Retry-After hold (as grpc-go's Connect and
// ResetConnectBackoff do): it asks every endpoint's /healthz at once, each
// within AttemptTimeout, and returns nil as soon as one answers ok. That
// endpoint is back in rotation and the state is Green; after Red, a poll
// loop that was backing off polls again within RecoverySpread and the
// outbox drains. The other endpoints' probes finish in the background and
// put those that answer back in rotation (Close cancels them). An
// application calls Probe when the network changed (a VPN came up, the
// laptop woke) or when the user asks. When no endpoint answers, Probe
// returns a *CallError (matching ErrUnavailable) and the state turns Red;
// when ctx ends first, ctx's error.
func (c *Client) Probe(ctx context.Context) error {
	if c.closed() {
		return ErrClosed
	}
	type result struct {
		e   *endpoint
		err error
	}
	all := c.pool.all
	results := make(chan result, len(all)) // never blocks a probe
	started := 0
	start := time.Now()
	// failed holds the endpoints whose health check failed: the one that
	// answers first does not readmit them on probation after Red.
	var failed atomic.Uint64
	for _, e := range all {
		if !c.track() {
			break
		}
		started++
		go func() {
			defer c.wg.Done()
			err := c.probeEndpoint(c.ctx, e, c.cfg.AttemptTimeout, time.Time{})
			if err == nil {
				c.pool.success(e)
				c.reachedExcept(failed.Load())
			} else if c.ctx.Err() == nil {
				failed.Or(e.bit)
				// A failed health check is a failure of the endpoint:
				// one readmitted on probation meanwhile (its check
				// outlasted another's ok) leaves rotation again.
				c.pool.failure(e, 0, true)
			}
			results <- result{e, err}
		}()
	}
	if started == 0 {
		return ErrClosed
	}
	var causes []error
	var names []string
	for range started {
		select {
		case r := <-results:
			if r.err == nil {
				return nil
			}
			names = append(names, r.e.name)
			causes = append(causes, &AttemptError{Endpoint: r.e.name, Err: r.err})
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if c.closed() {
		return ErrClosed
	}
	err := &CallError{Command: "healthz", Attempts: started, Endpoints: names, Err: errors.Join(causes...)}
	c.unreachable(err, start)
	return err
}
