package loadgen

import (
	"time"
)

// Windows the outage figures look at, unless FigureOptions say otherwise.
const (
	// DefaultSteadyWindow is how long before an outage the steady request
	// rate is averaged over.
	DefaultSteadyWindow = 10 * time.Second
	// DefaultPeakWindow is how long after an outage the peak request rate
	// is looked for.
	DefaultPeakWindow = 60 * time.Second
)

// OutageFigures say how the fleet lived through one outage.
type OutageFigures struct {
	Outage string    `json:"outage"` // as ParseOutage reads it
	Start  time.Time `json:"start"`  // the outage window
	End    time.Time `json:"end"`
	// Green50, Green99 and Green100 are the times from the end of the
	// outage to the first sample with at least 50%, 99% and all of the
	// clients Green (0 if the last sample before the end had them already);
	// nil when the run ended first. Resolution: the sampling interval.
	Green50  *Duration `json:"green50,omitempty"`
	Green99  *Duration `json:"green99,omitempty"`  // see Green50
	Green100 *Duration `json:"green100,omitempty"` // see Green50
	// RateOf says which per-second series the rates below count:
	// "attempts" when attempts were recorded, else "requests".
	RateOf string `json:"rate_of"`
	// SteadyRate is the mean rate in the whole seconds of the steady window
	// before the outage; PeakRate the highest 1 s rate in the peak window
	// from its end.
	SteadyRate float64 `json:"steady_rate"`
	PeakRate   float64 `json:"peak_rate"` // see SteadyRate
	// HerdRatio is PeakRate / SteadyRate; 0 when there was no steady rate.
	HerdRatio float64 `json:"herd_ratio"`
	// OutboxBefore is the outbox depth sampled last before the outage;
	// OutboxPeak the highest from then until drained.
	OutboxBefore int64 `json:"outbox_before"`
	OutboxPeak   int64 `json:"outbox_peak"` // see OutboxBefore
	// Drain is the time from the end of the outage to the first sample with
	// the outbox back to OutboxBefore or less; nil when the run ended first.
	Drain *Duration `json:"drain,omitempty"`
}

// FigureOptions are the windows Figures looks at. The zero value means the
// defaults.
type FigureOptions struct {
	// SteadyWindow is how long before the outage the steady rate is
	// averaged over; zero means DefaultSteadyWindow.
	SteadyWindow time.Duration
	// PeakWindow is how long after the outage the peak rate is looked for;
	// zero means DefaultPeakWindow.
	PeakWindow time.Duration
	// NotBefore keeps the steady window after the ramp-up.
	NotBefore time.Time
}

// Figures computes the figures of an outage from start to end out of series
// s. It is a pure function of its arguments.
func Figures(s Series, outage string, start, end time.Time, opt FigureOptions) OutageFigures {
	if opt.SteadyWindow <= 0 {
		opt.SteadyWindow = DefaultSteadyWindow
	}
	if opt.PeakWindow <= 0 {
		opt.PeakWindow = DefaultPeakWindow
	}
	f := OutageFigures{Outage: outage, Start: start, End: end}
	for _, g := range []struct {
		dst      **Duration
		permille int64
	}{{&f.Green50, 500}, {&f.Green99, 990}, {&f.Green100, 1000}} {
		if d, ok := TimeToGreen(s, end, g.permille); ok {
			*g.dst = ptr(Duration(d))
		}
	}
	steadyFrom := start.Add(-opt.SteadyWindow)
	if opt.NotBefore.After(steadyFrom) {
		steadyFrom = opt.NotBefore
	}
	f.RateOf = "requests"
	rates := RequestRates(s)
	if hasAttempts(s) {
		f.RateOf = "attempts"
		rates = AttemptRates(s)
	}
	f.SteadyRate, f.PeakRate, f.HerdRatio = Herd(s.Start, rates, steadyFrom, start, end, end.Add(opt.PeakWindow))
	f.OutboxBefore, f.OutboxPeak, f.Drain = drainOf(s, start, end)
	return f
}

func ptr[T any](v T) *T { return &v }

func hasAttempts(s Series) bool {
	for _, p := range s.Points {
		if p.Attempts > 0 {
			return true
		}
	}
	return false
}

// RequestRates returns the operations of each second of s.
func RequestRates(s Series) []int64 {
	out := make([]int64, len(s.Points))
	for i, p := range s.Points {
		out[i] = p.Requests
	}
	return out
}

// AttemptRates returns the attempts of each second of s.
func AttemptRates(s Series) []int64 {
	out := make([]int64, len(s.Points))
	for i, p := range s.Points {
		out[i] = p.Attempts
	}
	return out
}

// TimeToGreen returns the time from end to the first gauge sample of s taken
// at or after end with at least permille/1000 of the clients Green (of
// Clients, or of Green+Red when Clients was not sampled); 0 if the last
// sample before end already had them (the fleet rode the outage out). ok is
// false when no such sample exists.
func TimeToGreen(s Series, end time.Time, permille int64) (d time.Duration, ok bool) {
	green := func(p Point) bool {
		total := p.Clients
		if total == 0 {
			total = p.Green + p.Red
		}
		return total > 0 && p.Green*1000 >= permille*total
	}
	last := -1 // the last sample before end
	for i, p := range s.Points {
		if p.Sampled && s.sampleTime(i).Before(end) {
			last = i
		}
	}
	if last >= 0 && green(s.Points[last]) {
		return 0, true
	}
	for i, p := range s.Points {
		if at := s.sampleTime(i); p.Sampled && !at.Before(end) && green(p) {
			return at.Sub(end), true
		}
	}
	return 0, false
}

// Herd computes the herd ratio from per-second rates whose index 0 is Unix
// second base: steady is the mean rate over the whole seconds in
// [steadyFrom, outageStart), peak the highest rate of a second that starts
// in [floor(outageEnd), peakUntil), and ratio is peak / steady, or 0 when
// steady is 0.
func Herd(base int64, rates []int64, steadyFrom, outageStart, outageEnd, peakUntil time.Time) (steady, peak, ratio float64) {
	var sum, n int64
	for i, v := range rates {
		t := time.Unix(base+int64(i), 0)
		if t.Before(steadyFrom) || t.Add(time.Second).After(outageStart) {
			continue
		}
		sum += v
		n++
	}
	if n > 0 {
		steady = float64(sum) / float64(n)
	}
	from := outageEnd.Unix()
	for i, v := range rates {
		sec := base + int64(i)
		if sec < from || !time.Unix(sec, 0).Before(peakUntil) {
			continue
		}
		peak = max(peak, float64(v))
	}
	if steady > 0 {
		ratio = peak / steady
	}
	return steady, peak, ratio
}

// drainOf returns the outbox depth sampled last before start, the peak from
// then until it is back to that depth after end, and the time from end until
// it is (nil if never).
func drainOf(s Series, start, end time.Time) (before, peak int64, drain *Duration) {
	for i, p := range s.Points {
		if !p.Sampled {
			continue
		}
		at := s.sampleTime(i)
		if at.Before(start) {
			before = p.Outbox
			continue
		}
		peak = max(peak, p.Outbox)
		if !at.Before(end) && p.Outbox <= before {
			return before, max(peak, before), ptr(Duration(at.Sub(end)))
		}
	}
	return before, max(peak, before), nil
}
