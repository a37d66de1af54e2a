package client

import (
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// Tier says which group of endpoints serves.
type Tier int

// Tiers. The zero value means no tier has a healthy endpoint.
const (
	TierNone    Tier = iota // no endpoint is healthy (panic mode)
	TierPrimary             // Config.URLs
	TierBackup              // Config.BackupURLs
)

// String returns "primary", "backup" or "none".
func (t Tier) String() string {
	switch t {
	case TierPrimary:
		return "primary"
	case TierBackup:
		return "backup"
	default:
		return "none"
	}
}

// endpoint is one published base URL with its passive health.
type endpoint struct {
	idx    int
	bit    uint64
	tier   Tier
	name   string   // redacted base URL
	api    *url.URL // base + wire.APIPath; read-only after newPool
	health *url.URL // base + "/healthz"; read-only after newPool

	state atomic.Int32 // epHealthy or epEjected
	fails atomic.Int32 // consecutive transient failures

	requests  atomic.Int64
	probes    atomic.Int64
	ejections atomic.Int64

	// Guarded by pool.mu.
	level        int       // doublings of the next ejection
	healthySince time.Time // when it last became healthy
	holdUntil    time.Time // Retry-After: no request before this
	ejectedAt    time.Time // when it last left rotation
	gen          uint64    // invalidates stale ejection timers
	timer        *time.Timer
	probeDue     time.Time // when timer is due to probe
}

// armProbe arms e's timer to run probe after d, and notes when it is due
// (CallInfo.Due of the probe). Caller holds pool.mu.
func (e *endpoint) armProbe(d time.Duration, probe func()) {
	e.probeDue = time.Now().Add(d)
	e.timer = time.AfterFunc(d, probe)
}

// snapshot is an immutable view of the endpoints that may take calls. A new
// one is published with an atomic pointer swap whenever health changes.
type snapshot struct {
	// tiers holds, per tier (primary, backup), the healthy endpoints.
	tiers   [2][]*endpoint
	serving Tier   // best tier with a healthy endpoint
	healthy int    // healthy endpoints, all tiers
	ejected uint64 // bit set of ejected endpoints
}

// pool is the endpoint set: round robin over an immutable snapshot with one
// atomic counter, rebuilt under mu when health changes.
type pool struct {
	c    *Client
	all  []*endpoint
	mask uint64 // bits of all endpoints

	snap atomic.Pointer[snapshot]
	_    [56]byte // keep next off the snapshot pointer's cache line
	next atomic.Uint64
	_    [56]byte

	mu     sync.Mutex // guards endpoint health fields and rebuilds
	closed bool
}

func newPool(c *Client, primaries, backups []*url.URL, start uint64) *pool {
	p := &pool{c: c}
	add := func(u *url.URL, tier Tier) {
		api, health := *u, *u
		api.Path = u.Path + wire.APIPath
		health.Path = u.Path + healthPath
		e := &endpoint{idx: len(p.all), tier: tier, name: redactURL(u), api: &api, health: &health}
		e.bit = 1 << uint(e.idx)
		p.mask |= e.bit
		p.all = append(p.all, e)
	}
	for _, u := range primaries {
		add(u, TierPrimary)
	}
	for _, u := range backups {
		add(u, TierBackup)
	}
	// A random start, so that many clients do not all open on the first URL.
	p.next.Store(start)
	p.mu.Lock()
	p.rebuildLocked()
	p.mu.Unlock()
	return p
}

// rebuildLocked publishes a new snapshot. Caller holds p.mu.
func (p *pool) rebuildLocked() *snapshot {
	s := &snapshot{}
	for _, e := range p.all {
		t := 0
		if e.tier == TierBackup {
			t = 1
		}
		if e.state.Load() == epHealthy {
			s.tiers[t] = append(s.tiers[t], e)
			s.healthy++
			if s.serving == TierNone || e.tier < s.serving {
				s.serving = e.tier
			}
		} else {
			s.ejected |= e.bit
		}
	}
	p.snap.Store(s)
	return s
}

// pick returns the next endpoint for an attempt, skipping those in tried:
// round robin over the primary tier's healthy endpoints, then over the
// backups'. With none left it falls back to panic mode (see pickPanic)
// unless healthyOnly. It returns nil when no endpoint is left. pick takes
// no lock and does not allocate unless it falls back to panic mode.
func (p *pool) pick(tried uint64, healthyOnly bool) *endpoint {
	s := p.snap.Load()
	n := p.next.Add(1)
	for t := range s.tiers {
		eps := s.tiers[t]
		l := uint64(len(eps))
		for i := uint64(0); i < l; i++ {
			e := eps[(n+i)%l]
			if tried&e.bit == 0 && e.state.Load() == epHealthy {
				return e
			}
		}
	}
	if healthyOnly {
		return nil
	}
	return p.pickPanic(tried, n)
}

// pickPanic picks among all endpoints not tried, ejected or not, so that a
// call with no healthy endpoint left tries rather than fails without
// trying: primaries first. It prefers endpoints not held by a Retry-After; when every one
// left is held, it takes the one whose hold ends first: a user's call is
// worth one request (the poll loop, which makes most requests, waits for
// the hold).
func (p *pool) pickPanic(tried uint64, n uint64) *endpoint {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var held *endpoint
	// Tier by tier (primaries first), round robin within a tier.
	for lo := 0; lo < len(p.all); {
		hi := lo
		for hi < len(p.all) && p.all[hi].tier == p.all[lo].tier {
			hi++
		}
		l := uint64(hi - lo)
		for i := uint64(0); i < l; i++ {
			e := p.all[lo+int((n+i)%l)]
			if tried&e.bit != 0 {
				continue
			}
			if now.Before(e.holdUntil) {
				if held == nil || e.holdUntil.Before(held.holdUntil) {
					held = e
				}
				continue
			}
			return e
		}
		lo = hi
	}
	return held
}

// holdRemaining reports how long e is still held by a Retry-After.
func (p *pool) holdRemaining(e *endpoint) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Until(e.holdUntil)
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, e := range p.all {
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		e.gen++
	}
}
