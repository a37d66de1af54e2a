package loadgen

import (
	"slices"
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
	// Outage names the outage: a fault of the embedded cluster as
	// ParseOutage reads it ("down:20s@35s"), a window declared for an
	// external cluster as ParseWindow reads it ("20s+15s"), or "detected".
	Outage string    `json:"outage"`
	Start  time.Time `json:"start"` // the outage window
	End    time.Time `json:"end"`
	// Detected is set for an outage nobody declared, which DetectOutages
	// found in the fleet's own gauges.
	Detected bool `json:"detected,omitzero"`
	// Red50, Red99 and Red100 are the times from the start of the outage
	// to the first gauge sample with at least 50%, 99% and all of the
	// clients Red, among the samples from the start until the fleet is 99%
	// Green again after the end; nil when no sample had that many. With
	// RedPeak 0 as well, no client went Red. Resolution: the sampling
	// interval.
	Red50  *Duration `json:"red50,omitempty"`
	Red99  *Duration `json:"red99,omitempty"`  // see Red50
	Red100 *Duration `json:"red100,omitempty"` // see Red50
	// RedPeak is the most clients Red in one of those samples.
	RedPeak int64 `json:"red_peak"`
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
	// RequestRate and AttemptRate are the mean requests (by intended
	// second) and attempts (put on the wire, retries included) per second
	// over the whole seconds of the outage window; SteadyRequestRate and
	// SteadyAttemptRate the same over the steady window before it.
	// RequestLoad and AttemptLoad are the ratios of the two (0 without a
	// steady rate): the load the cluster absorbs while it is down.
	RequestRate       float64 `json:"request_rate"`
	AttemptRate       float64 `json:"attempt_rate"`        // see RequestRate
	SteadyRequestRate float64 `json:"steady_request_rate"` // see RequestRate
	SteadyAttemptRate float64 `json:"steady_attempt_rate"` // see RequestRate
	RequestLoad       float64 `json:"request_load"`        // see RequestRate
	AttemptLoad       float64 `json:"attempt_load"`        // see RequestRate
	// OutboxBefore is the outbox depth sampled last before the outage;
	// OutboxPeak the highest from then until drained.
	OutboxBefore int64 `json:"outbox_before"`
	OutboxPeak   int64 `json:"outbox_peak"` // see OutboxBefore
	// Drain is the time from the end of the outage to the first sample with
	// the outbox back to OutboxBefore or less; nil when the run ended first.
	Drain *Duration `json:"drain,omitempty"`
	// OutboxLeft is, when the outbox never drained (Drain nil), its depth
	// at the last sample of the run.
	OutboxLeft int64 `json:"outbox_left,omitzero"`
}

// Load returns the load ratio of the rates RateOf names: AttemptLoad when
// attempts were recorded, else RequestLoad.
func (f OutageFigures) Load() float64 {
	if f.RateOf == "attempts" {
		return f.AttemptLoad
	}
	return f.RequestLoad
}

// recovered returns when the fleet was 99% Green again after the outage:
// its end plus Green99, or the end of series s when it never was.
func (f OutageFigures) recovered(s Series) time.Time {
	if f.Green99 != nil {
		return f.End.Add(time.Duration(*f.Green99))
	}
	return s.Time(len(s.Points))
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
	if f.Drain == nil {
		f.OutboxLeft = lastSample(s).Outbox
	}

	until := f.recovered(s)
	for _, r := range []struct {
		dst      **Duration
		permille int64
	}{{&f.Red50, 500}, {&f.Red99, 990}, {&f.Red100, 1000}} {
		if d, ok := TimeToRed(s, start, until, r.permille); ok {
			*r.dst = ptr(Duration(d))
		}
	}
	f.RedPeak = redPeak(s, start, until)

	f.SteadyRequestRate, _, _ = Herd(s.Start, RequestRates(s), steadyFrom, start, end, end)
	f.SteadyAttemptRate, _, _ = Herd(s.Start, AttemptRates(s), steadyFrom, start, end, end)
	f.RequestRate = MeanRate(s.Start, RequestRates(s), start, end)
	f.AttemptRate = MeanRate(s.Start, AttemptRates(s), start, end)
	if f.SteadyRequestRate > 0 {
		f.RequestLoad = f.RequestRate / f.SteadyRequestRate
	}
	if f.SteadyAttemptRate > 0 {
		f.AttemptLoad = f.AttemptRate / f.SteadyAttemptRate
	}
	return f
}

// share reports whether n is at least permille/1000 of the clients of
// gauge sample p (Clients, or Green+Red when Clients was not sampled); never
// for a sample with no clients.
func share(p Point, n, permille int64) bool {
	total := p.Clients
	if total == 0 {
		total = p.Green + p.Red
	}
	return total > 0 && n*1000 >= permille*total
}

// lastSample returns the last gauge sample of s (the zero Point if none).
func lastSample(s Series) Point {
	for i := len(s.Points) - 1; i >= 0; i-- {
		if s.Points[i].Sampled {
			return s.Points[i]
		}
	}
	return Point{}
}

// TimeToRed returns the time from start to the first gauge sample of s
// taken in [start, until) with at least permille/1000 of the clients Red (of
// Clients, or of Green+Red when Clients was not sampled). ok is false when
// no such sample exists.
func TimeToRed(s Series, start, until time.Time, permille int64) (d time.Duration, ok bool) {
	for i, p := range s.Points {
		if at := s.sampleTime(i); p.Sampled && !at.Before(start) && at.Before(until) && share(p, p.Red, permille) {
			return at.Sub(start), true
		}
	}
	return 0, false
}

// redPeak returns the most clients Red in a sample of s in [start, until).
func redPeak(s Series, start, until time.Time) int64 {
	var peak int64
	for i, p := range s.Points {
		if at := s.sampleTime(i); p.Sampled && !at.Before(start) && at.Before(until) {
			peak = max(peak, p.Red)
		}
	}
	return peak
}

// MeanRate returns the mean of per-second rates whose index 0 is Unix second
// base over the whole seconds in [from, to); when no whole second fits (a
// window shorter than a second, or across one), over the seconds that
// overlap it; 0 when none does.
func MeanRate(base int64, rates []int64, from, to time.Time) float64 {
	var sum, n, osum, on int64
	for i, v := range rates {
		t := time.Unix(base+int64(i), 0)
		next := t.Add(time.Second)
		if next.After(from) && t.Before(to) {
			osum += v
			on++
			if !t.Before(from) && !next.After(to) {
				sum += v
				n++
			}
		}
	}
	switch {
	case n > 0:
		return float64(sum) / float64(n)
	case on > 0:
		return float64(osum) / float64(on)
	}
	return 0
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
	green := func(p Point) bool { return share(p, p.Green, permille) }
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

// ErrorSplit splits the requests and errors of the series (by intended
// second) between the outages and the steady state. A second is an outage
// second when it overlaps an outage window or its recovery, up to the first
// sample with 99% of the clients Green again (to the end of the run when
// that never came); every other second is steady.
type ErrorSplit struct {
	OutageSeconds  int64 `json:"outage_seconds"`  // seconds of the outages and their recovery
	OutageRequests int64 `json:"outage_requests"` // requests intended in them
	OutageErrors   int64 `json:"outage_errors"`   // of which failed
	SteadyRequests int64 `json:"steady_requests"` // requests intended in the other seconds
	SteadyErrors   int64 `json:"steady_errors"`   // of which failed
}

// splitErrors returns the error split of series s around outages; nil when
// there is no outage.
func splitErrors(s Series, outages []OutageFigures) *ErrorSplit {
	if len(outages) == 0 {
		return nil
	}
	var e ErrorSplit
	for i, p := range s.Points {
		t := s.Time(i)
		next := t.Add(time.Second)
		in := slices.ContainsFunc(outages, func(o OutageFigures) bool {
			return next.After(o.Start) && t.Before(o.recovered(s))
		})
		if in {
			e.OutageSeconds++
			e.OutageRequests += p.Requests
			e.OutageErrors += p.Errors
		} else {
			e.SteadyRequests += p.Requests
			e.SteadyErrors += p.Errors
		}
	}
	return &e
}

// How DetectOutages reads a series; see there.
const (
	detectRedPermille = 500              // a sample is Red when at least 50% of its clients are
	detectMinSamples  = 2                // Red samples an outage needs at least
	detectGap         = 5 * time.Second  // Red samples closer than this are one outage
	detectErrPermille = 200              // a second fails when 20% of its requests did
	detectLookback    = 60 * time.Second // how far back from the first Red sample the start is looked for
)

// DetectOutages returns the figures of the outages series s shows from the
// fleet's own state, for a cluster whose faults loadgen does not switch
// (an external one), each with Outage "detected" and Detected set. It is a
// pure function of its arguments. An outage is found so:
//
//  1. A gauge sample is Red when at least 50% of its clients are Red (of
//     Clients, or of Green+Red when Clients was not sampled); a sample with
//     no clients is not.
//  2. Red samples less than 5 s apart belong to one outage, which needs at
//     least 2 of them: a single Red sample is a blip, not an outage.
//  3. A second fails when at least 20% of the requests intended in it
//     failed. The outage starts at the first of the run of failing seconds
//     (seconds without requests do not break it) that reaches back from the
//     second of its first Red sample, at most 60 s; with no failing second
//     there, at its first Red sample. The clients turn Red only after their
//     calls fail, so the start is where the error ratio rose.
//  4. The outage ends at the end of the last failing second from its start
//     to its last Red sample (where the cluster answered again), or at its
//     last Red sample when no second failed. The figures then count the
//     recovery (Green50 …) from there, as for a declared outage.
func DetectOutages(s Series, opt FigureOptions) []OutageFigures {
	failing := func(p Point) bool { return p.Requests > 0 && p.Errors*1000 >= detectErrPermille*p.Requests }
	type episode struct{ first, last int } // point indexes of the first and last Red samples
	var eps []episode
	for i, p := range s.Points {
		if !p.Sampled || !share(p, p.Red, detectRedPermille) {
			continue
		}
		if n := len(eps); n > 0 && s.sampleTime(i).Sub(s.sampleTime(eps[n-1].last)) < detectGap {
			eps[n-1].last = i
			continue
		}
		eps = append(eps, episode{i, i})
	}
	var out []OutageFigures
	for _, e := range eps {
		red := 0
		for i := e.first; i <= e.last; i++ {
			if p := s.Points[i]; p.Sampled && share(p, p.Red, detectRedPermille) {
				red++
			}
		}
		if red < detectMinSamples {
			continue
		}
		from := e.first // the start: a point index
		found := false
		lookback := int(detectLookback / time.Second)
		for j := e.first; j >= 0 && j >= e.first-lookback; j-- {
			p := s.Points[j]
			if p.Requests == 0 {
				continue
			}
			if !failing(p) {
				if j == e.first {
					continue // the Red sample's own second may be past the failures
				}
				break
			}
			from, found = j, true
		}
		start := s.sampleTime(e.first)
		if found {
			start = s.Time(from)
		}
		end := s.sampleTime(e.last)
		for j := e.last; j >= from; j-- {
			if failing(s.Points[j]) {
				end = s.Time(j + 1)
				break
			}
		}
		if !end.After(start) {
			end = s.sampleTime(e.last)
		}
		// An outage that does not start or end before the next one's start
		// is merged away by the figures' windows; keep them in order.
		if n := len(out); n > 0 && !start.After(out[n-1].End) {
			out[n-1] = Figures(s, "detected", out[n-1].Start, end, opt)
			out[n-1].Detected = true
			continue
		}
		f := Figures(s, "detected", start, end, opt)
		f.Detected = true
		out = append(out, f)
	}
	return out
}
