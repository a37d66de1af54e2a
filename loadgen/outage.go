package loadgen

import (
	"context"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// window is when an outage's fault was really on.
type window struct{ on, off time.Time }

// outage switches o on at its start and off at its end (or when the run
// ends), and returns when it really did; the zero window if the run ended
// before the outage began.
func (e *engine) outage(ctx context.Context, start time.Time, o Outage) window {
	if sleepCtx(ctx, time.Until(start.Add(o.At))) != nil {
		return window{}
	}
	e.log.Info("outage begins", "outage", o.String())
	e.setFault(o, true)
	w := window{on: time.Now()}
	_ = sleepCtx(ctx, time.Until(start.Add(o.End())))
	e.setFault(o, false)
	w.off = time.Now()
	e.log.Info("outage ends", "outage", o.String())
	if sd := e.cfg.SlowDown; sd.Interval > 0 {
		e.log.Info("slow-down begins", "pollinterval", sd.Interval, "for", sd.For)
		// Slow-downs of outages close together overlap: the last to end
		// restores the cluster's own interval.
		if e.slowDowns.Add(1) == 1 {
			e.cluster.SetPollInterval(sd.Interval)
		}
		_ = sleepCtx(ctx, sd.For)
		if e.slowDowns.Add(-1) == 0 {
			e.cluster.SetPollInterval(0)
			e.log.Info("slow-down ends")
		}
	}
	return w
}

func (e *engine) setFault(o Outage, on bool) {
	if o.Mode == OutageDBDown {
		e.cluster.SetStoreFault(on)
		return
	}
	var f regsim.Fault
	if on {
		switch o.Mode {
		case OutageDown:
			f.Down = true
		case OutageUnavailable:
			f.Unavailable, f.RetryAfter = true, 5*time.Second
		case OutageHang:
			f.Hang = true
		case OutageReset:
			f.Reset = true
		}
	}
	targets := o.Instances
	if targets == nil {
		targets = make([]int, e.cluster.Len())
		for i := range targets {
			targets[i] = i
		}
	}
	for _, i := range targets {
		e.cluster.Instance(i).SetFault(f)
	}
}
