package client

import "time"

// Endpoint health states.
const (
	epHealthy int32 = iota // in rotation
	epEjected              // out of rotation until its ejection ends
	epTrial                // ejection over: the next call to it decides
)

// maxLevel bounds the doublings of the ejection time.
const maxLevel = 20

// success records an attempt that reached the Registration Server (a result
// or an exception reply). The common case takes no lock.
func (p *pool) success(e *endpoint, trial bool) {
	if e.fails.Load() != 0 {
		e.fails.Store(0)
	}
	if !trial && e.state.Load() == epHealthy {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	changed := e.state.Load() != epHealthy
	if changed {
		e.state.Store(epHealthy)
		e.healthySince = time.Now()
		e.gen++
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		p.rebuildLocked()
	}
	e.trialBusy.Store(false)
	p.mu.Unlock()
	if changed {
		// The caller's reached() publishes the new tier together with
		// the level, so subscribers see one event, not two.
		p.c.log.Info("endpoint healthy", "endpoint", e.name, "trial", trial)
	}
}

// release gives back a trial slot whose attempt ended without a verdict (the
// caller's context ended).
func (p *pool) release(e *endpoint, trial bool) {
	if trial {
		e.trialBusy.Store(false)
	}
}

// failure records a transient failure of an attempt on e. retryAfter > 0
// holds the endpoint for that long (the server asked for it).
func (p *pool) failure(e *endpoint, trial bool, retryAfter time.Duration) {
	n := e.fails.Add(1)
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
	case st == epTrial && trial:
		// The trial failed: eject again, for longer.
		p.ejectLocked(e, now, hold)
		ejected = true
	case st == epHealthy && int(n) >= p.c.cfg.FailureThreshold:
		p.ejectLocked(e, now, hold)
		ejected = true
	case st == epHealthy && hold > 0:
		// The server asked for a pause: honour exactly that, without
		// counting it as an ejection that doubles the next one.
		p.holdLocked(e, hold)
		ejected = true
	case st == epEjected && hold > 0:
		// A panic-mode attempt was told to come back later.
		p.ejectLocked(e, now, hold)
	}
	if trial && e.state.Load() == epTrial {
		e.trialBusy.Store(false)
	}
	p.mu.Unlock()
	if ejected {
		p.c.log.Warn("endpoint ejected", "endpoint", e.name, "failures", n, "retry_after", retryAfter)
		p.c.refreshState()
	}
}

// ejectLocked takes e out of rotation for EjectionTime·2^level (capped, plus
// up to 25% jitter, at least hold) and arms the timer that ends the
// ejection. Caller holds p.mu.
func (p *pool) ejectLocked(e *endpoint, now time.Time, hold time.Duration) {
	cfg := p.c.cfg
	level := e.level
	if e.state.Load() == epHealthy && !e.healthySince.IsZero() && cfg.EjectionDecay > 0 {
		level -= int(now.Sub(e.healthySince) / cfg.EjectionDecay)
	}
	level = max(0, min(level, maxLevel))
	d := cfg.EjectionTime << uint(level)
	if d > cfg.MaxEjectionTime || d <= 0 {
		d = cfg.MaxEjectionTime
	}
	d += p.c.randDuration(d / 4)
	d = max(d, hold)
	e.level = min(level+1, maxLevel)
	e.state.Store(epEjected)
	e.trialBusy.Store(false)
	e.fails.Store(0)
	e.ejections.Add(1)
	e.gen++
	gen := e.gen
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timer = time.AfterFunc(d, func() { p.endEjection(e, gen) })
	p.rebuildLocked()
}

// holdLocked takes e out of rotation for d, then gives it a trial call.
// Caller holds p.mu.
func (p *pool) holdLocked(e *endpoint, d time.Duration) {
	e.state.Store(epEjected)
	e.trialBusy.Store(false)
	e.ejections.Add(1)
	e.gen++
	gen := e.gen
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timer = time.AfterFunc(d, func() { p.endEjection(e, gen) })
	p.rebuildLocked()
}

// endEjection puts e back in rotation for one trial call.
func (p *pool) endEjection(e *endpoint, gen uint64) {
	p.mu.Lock()
	if p.closed || e.gen != gen || e.state.Load() != epEjected {
		p.mu.Unlock()
		return
	}
	e.timer = nil
	e.state.Store(epTrial)
	e.trialBusy.Store(false)
	p.rebuildLocked()
	p.mu.Unlock()
	p.c.refreshState()
}
