package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the time source of a Pacer. Tests inject one; SystemClock is the
// real one (and the fake one inside a testing/synctest bubble).
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock returns the clock of package time.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PacerConfig configures a Pacer.
type PacerConfig struct {
	// Rate is the number of sends per second at full rate. Required: a
	// positive finite number.
	Rate float64
	// RampUp is the time over which the rate rises linearly from 0 to Rate;
	// zero means full rate from the start.
	RampUp time.Duration
	// Start is the time of send 0. Zero means Clock.Now() at NewPacer.
	Start time.Time
	// Tolerance is how far behind its intended time a send may be handed
	// out before it counts as late. Zero means the Recorder's LateTolerance
	// when Recorder is set, else DefaultLateTolerance.
	Tolerance time.Duration
	// Clock is the time source; nil means SystemClock().
	Clock Clock
	// Recorder, when set, receives the schedule lag of every send
	// (Recorder.RecordLag), and its reports count the sends this pacer had
	// due and missed.
	Recorder *Recorder
}

// A Pacer hands out the sends of an open-model load at a fixed rate (after
// an optional linear ramp-up). Send n is intended at Start + n/Rate whatever
// happened to the sends before it, so the schedule holds when replies are
// slow: a caller that falls behind gets the overdue sends at once, each with
// its intended time, and records latency from that time. Nothing is dropped
// silently: a send handed out more than Tolerance after its intended time is
// counted late, and one that was due but never handed out (its caller gave
// up) is counted missed.
//
// Next is safe for concurrent use: several workers may share one Pacer, each
// taking the next send. A Pacer starts no goroutine and needs no Close.
type Pacer struct {
	rate      float64
	ramp      time.Duration
	rampSends float64 // sends intended during the ramp-up: rate × ramp / 2
	start     time.Time
	tolerance time.Duration
	clock     Clock
	rec       *Recorder

	stop   atomic.Int64 // UnixNano after which no send is due; 0: none
	next   atomic.Int64 // the next send to hand out
	sent   atomic.Int64
	late   atomic.Int64
	maxLag atomic.Int64

	mu        sync.Mutex // guards abandoned
	abandoned []int64    // sends taken by a Next that then gave up
}

// Send is one send handed out by a Pacer.
type Send struct {
	Seq      int64         // 0, 1, 2, … in schedule order
	Intended time.Time     // when it was meant to start
	Lag      time.Duration // how late it was handed out (≥ 0)
}

// PacerStats are the counts of a Pacer as of a given time.
type PacerStats struct {
	Due    int64         // sends intended before that time
	Sent   int64         // sends handed out
	Late   int64         // of which more than the tolerance behind schedule
	Missed int64         // sends due but not handed out
	MaxLag time.Duration // the largest lag handed out
}

// NewPacer returns a Pacer configured by cfg, or an error naming the bad
// field.
func NewPacer(cfg PacerConfig) (*Pacer, error) {
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		return nil, fmt.Errorf("loadgen: PacerConfig.Rate %v is not a positive finite number", cfg.Rate)
	}
	if cfg.RampUp < 0 {
		return nil, fmt.Errorf("loadgen: PacerConfig.RampUp %s is negative", cfg.RampUp)
	}
	if cfg.Tolerance < 0 {
		return nil, fmt.Errorf("loadgen: PacerConfig.Tolerance %s is negative", cfg.Tolerance)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	if cfg.Start.IsZero() {
		cfg.Start = cfg.Clock.Now()
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultLateTolerance
		if cfg.Recorder != nil {
			cfg.Tolerance = cfg.Recorder.tolerance
		}
	}
	p := &Pacer{
		rate:      cfg.Rate,
		ramp:      cfg.RampUp,
		rampSends: cfg.Rate * cfg.RampUp.Seconds() / 2,
		start:     cfg.Start,
		tolerance: cfg.Tolerance,
		clock:     cfg.Clock,
		rec:       cfg.Recorder,
	}
	if p.rec != nil {
		p.rec.addPacer(p)
	}
	return p, nil
}

// Next waits until the next send is due and returns it. If the send is
// already overdue, Next returns at once; if it is due at or after the time
// given to Stop, Next returns ErrStopped. If ctx is done first, Next returns
// ctx.Err() and the send it was waiting for counts as missed once due.
func (p *Pacer) Next(ctx context.Context) (Send, error) {
	if err := ctx.Err(); err != nil {
		return Send{}, err
	}
	n := p.next.Add(1) - 1
	intended := p.Intended(n)
	if p.stoppedAt(intended) {
		return Send{}, ErrStopped // not due: Stats counts it nowhere
	}
	if d := intended.Sub(p.clock.Now()); d > 0 {
		if err := p.clock.Sleep(ctx, d); err != nil {
			p.mu.Lock()
			p.abandoned = append(p.abandoned, n)
			p.mu.Unlock()
			return Send{}, err
		}
		if p.stoppedAt(intended) { // Stop was called while waiting
			return Send{}, ErrStopped
		}
	}
	now := p.clock.Now()
	lag := max(now.Sub(intended), 0)
	p.sent.Add(1)
	if lag > p.tolerance {
		p.late.Add(1)
	}
	for {
		old := p.maxLag.Load()
		if int64(lag) <= old || p.maxLag.CompareAndSwap(old, int64(lag)) {
			break
		}
	}
	if p.rec != nil {
		p.rec.RecordLag(intended, now)
	}
	return Send{Seq: n, Intended: intended, Lag: lag}, nil
}

// stoppedAt reports whether Stop has ended the schedule at or before t.
func (p *Pacer) stoppedAt(t time.Time) bool {
	stop := p.stop.Load()
	return stop != 0 && t.UnixNano() >= stop
}

// Intended returns the intended time of send n (from 0).
func (p *Pacer) Intended(n int64) time.Time {
	return p.start.Add(p.offset(n))
}

// offset returns the intended time of send n from the start.
func (p *Pacer) offset(n int64) time.Duration {
	x := float64(n)
	var sec float64
	if x < p.rampSends {
		// During the ramp, the sends intended by t are rate·t²/(2·ramp).
		sec = math.Sqrt(2 * p.ramp.Seconds() * x / p.rate)
	} else {
		sec = p.ramp.Seconds() + (x-p.rampSends)/p.rate
	}
	return time.Duration(math.Round(sec * float64(time.Second)))
}

// Due returns the number of sends intended before t.
func (p *Pacer) Due(t time.Time) int64 {
	e := t.Sub(p.start).Seconds()
	if e <= 0 {
		return 0
	}
	var est float64
	if e < p.ramp.Seconds() {
		est = p.rate * e * e / (2 * p.ramp.Seconds())
	} else {
		est = p.rampSends + (e-p.ramp.Seconds())*p.rate
	}
	k := int64(math.Ceil(est))
	// Settle rounding so that Due agrees with Intended exactly.
	for k > 0 && !p.Intended(k-1).Before(t) {
		k--
	}
	for p.Intended(k).Before(t) {
		k++
	}
	return k
}

// ErrStopped is returned by Pacer.Next for a send intended at or after the
// time given to Stop.
var ErrStopped = errors.New("loadgen: pacer stopped")

// Stop ends the schedule at t: sends intended at or after t are not due,
// so a run that stops offering load at t (and then drains) does not count
// them as missed, and Next returns ErrStopped instead of handing them out.
func (p *Pacer) Stop(t time.Time) { p.stop.Store(t.UnixNano()) }

// Stats returns the pacer's counts as of t, normally the end of the run (or
// the time given to Stop, if earlier).
func (p *Pacer) Stats(t time.Time) PacerStats {
	if s := p.stop.Load(); s != 0 && s < t.UnixNano() {
		t = time.Unix(0, s)
	}
	due := p.Due(t)
	taken := min(p.next.Load(), due)
	p.mu.Lock()
	var gaveUp int64
	for _, n := range p.abandoned {
		if n < due {
			gaveUp++
		}
	}
	p.mu.Unlock()
	return PacerStats{
		Due:    due,
		Sent:   p.sent.Load(),
		Late:   p.late.Load(),
		Missed: due - taken + gaveUp,
		MaxLag: time.Duration(p.maxLag.Load()),
	}
}
