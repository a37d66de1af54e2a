package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultTuneRepeat is how many times Tune runs each combination when
// TuneConfig.Repeat is 0: enough to show the noise of a figure, which one
// run cannot.
const DefaultTuneRepeat = 3

// TuneConfig configures a sweep of the clients' recovery settings (Tune):
// every combination of the listed poll intervals, recovery spreads, drain
// rates and server slow-downs is run against the same scenario, Base,
// Repeat times. An empty list means Base's value alone.
type TuneConfig struct {
	// Base is the scenario: the embedded cluster with Outages, or an
	// external cluster (URLs) with OutageWindows declared; one of the two
	// is required, since a sweep without an outage measures no recovery.
	// loadgen cannot make an external cluster fail: there, someone (or a
	// chaos tool) must cause each run's outage at the declared window.
	// Its PollInterval, RecoverySpread, DrainRate and SlowDown are those of
	// the dimensions whose list is empty; its Seed, when set, makes the
	// sweep reproducible (each run gets a seed derived from it).
	Base Config
	// PollIntervals, RecoverySpreads, DrainRates and SlowDowns are the
	// values swept. A zero value means the client's default (the zero
	// SlowDown: none).
	PollIntervals   []time.Duration
	RecoverySpreads []time.Duration
	DrainRates      []float64
	SlowDowns       []SlowDown
	// Repeat is how many times each combination runs, each time with its
	// own seed; 0 means DefaultTuneRepeat.
	Repeat int
	// Goals, when set, are what the recommendation must meet (ParseGoal
	// reads them); they hold together.
	Goals []Threshold
	// Run runs one configuration; nil means the package's Run. Tests feed
	// synthetic reports through it.
	Run func(context.Context, Config) (*Report, error)
	// Progress, when set, is called after each run.
	Progress func(TuneProgress)
}

// Combination is one point of a sweep: the settings a run differs by.
type Combination struct {
	PollInterval   Duration `json:"poll_interval"`       // 0: the default
	RecoverySpread Duration `json:"recovery_spread"`     // 0: the client's default
	DrainRate      float64  `json:"drain_rate,omitzero"` // 0: the client's default
	SlowDown       SlowDown `json:"slow_down,omitzero"`  // the zero value: none
}

// String names the combination: "poll 10s spread 30s", with the drain rate
// and the slow-down when they are set.
func (c Combination) String() string {
	var b strings.Builder
	b.WriteString("poll " + orDefault(c.PollInterval))
	b.WriteString(" spread " + orDefault(c.RecoverySpread))
	if c.DrainRate > 0 {
		b.WriteString(" drain " + fmtRate(c.DrainRate) + "/s")
	}
	if c.SlowDown != (SlowDown{}) {
		b.WriteString(" slowdown " + c.SlowDown.String())
	}
	return b.String()
}

// short is the label of the combination's point on the chart: the values of
// the swept dimensions, "10s/30s".
func (c Combination) short(swept []string) string {
	var parts []string
	for _, d := range swept {
		switch d {
		case "poll":
			parts = append(parts, orDefault(c.PollInterval))
		case "spread":
			parts = append(parts, orDefault(c.RecoverySpread))
		case "drain":
			parts = append(parts, fmtDrain(c.DrainRate))
		case "slowdown":
			parts = append(parts, fmtSlowDown(c.SlowDown))
		}
	}
	if len(parts) == 0 {
		return c.String()
	}
	return strings.Join(parts, "/")
}

func orDefault(d Duration) string {
	if d == 0 {
		return "default"
	}
	return shortDur(time.Duration(d))
}

func fmtDrain(r float64) string {
	if r == 0 {
		return "default"
	}
	return fmtRate(r) + "/s"
}

func fmtSlowDown(s SlowDown) string {
	if s == (SlowDown{}) {
		return "none"
	}
	return shortDur(s.Interval) + ":" + shortDur(s.For)
}

func fmtRate(r float64) string { return strconv.FormatFloat(r, 'g', 4, 64) }

// shortDur formats d without the zero units time.Duration writes: "1m",
// "1m30s", "500ms".
func shortDur(d time.Duration) string {
	s := fmtDur(d)
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText implements encoding.TextMarshaler: the form ParseSlowDown
// reads, "" for none.
func (s SlowDown) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: ParseSlowDown's form,
// or "" or "none" for none.
func (s *SlowDown) UnmarshalText(b []byte) error {
	if v := strings.TrimSpace(string(b)); v == "" || v == "none" {
		*s = SlowDown{}
		return nil
	}
	v, err := ParseSlowDown(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// apply returns base with the settings of c and the given seed.
func (c Combination) apply(base Config, seed uint64) Config {
	cfg := base
	cfg.PollInterval = time.Duration(c.PollInterval)
	cfg.RecoverySpread = time.Duration(c.RecoverySpread)
	cfg.DrainRate = c.DrainRate
	cfg.SlowDown = c.SlowDown
	if cfg.PollMaxInterval > 0 && cfg.PollMaxInterval < cfg.PollInterval {
		// The backoff cap gives way to a longer poll interval, as in the SDK.
		cfg.PollMaxInterval = cfg.PollInterval
	}
	cfg.Seed = seed
	return cfg
}

// RunFigures are the figures of one run of a sweep. A nil figure is one the
// run did not have: never Green again, the outbox never drained, no steady
// rate to divide by, no deliveries. With several outages in the scenario
// each figure is that of the worst one (the highest herd ratio, the longest
// time to Green), and the steady rate is the one before the first outage.
type RunFigures struct {
	// SteadyPer1000 is the steady request rate before the outage per 1,000
	// clients (OutageFigures.SteadyRate × 1000 / Config.Clients).
	SteadyPer1000 *float64 `json:"steady_per_1000,omitempty"`
	// PeakRate is the highest 1 s rate after an outage; HerdRatio that
	// over the steady rate.
	PeakRate  *float64 `json:"peak_rate,omitempty"`
	HerdRatio *float64 `json:"herd_ratio,omitempty"`
	// Green99 and Green100 are the times from an outage's end to 99% and
	// all of the clients Green; Drain the time to the outbox drained.
	Green99  *Duration `json:"green99,omitempty"`
	Green100 *Duration `json:"green100,omitempty"`
	Drain    *Duration `json:"drain,omitempty"`
	// DeliverP99 is the 99th percentile of the delivery latency, from
	// acceptance to receipt (the operation "deliver").
	DeliverP99 *Duration `json:"deliver_p99,omitempty"`
	// Errors is the share of requests that failed (Report.ErrorRatio);
	// SteadyErrors that of the steady seconds (Report.ErrorSplit).
	Errors       *float64 `json:"errors,omitempty"`
	SteadyErrors *float64 `json:"steady_errors,omitempty"`
	// Saturated says the generator was at its limit (GeneratorStats): the
	// run's figures may be its own delays.
	Saturated bool `json:"saturated,omitzero"`
}

// FiguresOf returns the sweep figures of report r.
func FiguresOf(r *Report) RunFigures {
	var f RunFigures
	f.Saturated = r.Generator != nil && r.Generator.Saturated
	if r.Requests > 0 {
		f.Errors = ptr(r.ErrorRatio())
		if e := r.ErrorSplit; e != nil {
			if e.SteadyRequests > 0 {
				f.SteadyErrors = ptr(float64(e.SteadyErrors) / float64(e.SteadyRequests))
			}
		} else {
			f.SteadyErrors = ptr(r.ErrorRatio())
		}
	}
	if d := r.Operations[opDeliver]; d != nil && d.Latency.Count > 0 {
		f.DeliverP99 = ptr(d.Latency.P99)
	}
	if len(r.Outages) == 0 {
		return f
	}
	if o := r.Outages[0]; o.SteadyRate > 0 && r.Config.Clients > 0 {
		f.SteadyPer1000 = ptr(o.SteadyRate * 1000 / float64(r.Config.Clients))
	}
	worst := func(get func(OutageFigures) *Duration) *Duration {
		var w *Duration
		for _, o := range r.Outages {
			d := get(o)
			if d == nil {
				return nil
			}
			if w == nil || *d > *w {
				w = d
			}
		}
		return w
	}
	f.Green99 = worst(func(o OutageFigures) *Duration { return o.Green99 })
	f.Green100 = worst(func(o OutageFigures) *Duration { return o.Green100 })
	f.Drain = worst(func(o OutageFigures) *Duration { return o.Drain })
	peak, herd := math.Inf(-1), math.Inf(-1)
	for _, o := range r.Outages {
		peak = max(peak, o.PeakRate)
		if o.SteadyRate == 0 {
			herd = math.NaN()
		} else if !math.IsNaN(herd) {
			herd = max(herd, o.HerdRatio)
		}
	}
	f.PeakRate = ptr(peak)
	if !math.IsNaN(herd) {
		f.HerdRatio = ptr(herd)
	}
	return f
}

// TuneRun is one run of a sweep.
type TuneRun struct {
	Combination int        `json:"combination"` // index into TuneReport.Combinations
	Repeat      int        `json:"repeat"`      // from 1
	Seed        uint64     `json:"seed"`        // the run's Config.Seed
	Figures     RunFigures `json:"figures"`
	// EffectivePollInterval is the wait between polls the clients kept
	// to (RunConfig.EffectivePollInterval): the server's floor included.
	EffectivePollInterval Duration `json:"effective_poll_interval,omitzero"`
}

// TuneProgress reports a finished run of a sweep.
type TuneProgress struct {
	Done, Total int // runs finished, of all
	Run         TuneRun
	Combination Combination
}

// String is the progress line: "run 3/12: poll 10s spread 30s #1: herd
// 1.42 green99 31s".
func (p TuneProgress) String() string {
	f := p.Run.Figures
	herd, green := "none", "never"
	if f.HerdRatio != nil {
		herd = strconv.FormatFloat(*f.HerdRatio, 'f', 2, 64)
	}
	if f.Green99 != nil {
		green = shortDur(time.Duration(*f.Green99))
	}
	s := fmt.Sprintf("run %d/%d: %s #%d: herd %s green99 %s", p.Done, p.Total, p.Combination, p.Run.Repeat, herd, green)
	if f.Saturated {
		s += " (generator saturated)"
	}
	return s
}

// Spread summarizes one figure over the runs of a combination: its mean,
// lowest and highest value over the N runs that had it, and how many did
// not (Missing: never Green, never drained…), which are not averaged in.
// Durations are in seconds.
type Spread struct {
	N       int     `json:"n"`
	Missing int     `json:"missing,omitzero"`
	Mean    float64 `json:"mean"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
}

// spreadOf summarizes vs, nil for a missing value.
func spreadOf(vs []*float64) Spread {
	var s Spread
	var sum float64
	for _, v := range vs {
		if v == nil {
			s.Missing++
			continue
		}
		if s.N == 0 || *v < s.Min {
			s.Min = *v
		}
		if s.N == 0 || *v > s.Max {
			s.Max = *v
		}
		s.N++
		sum += *v
	}
	if s.N > 0 {
		s.Mean = sum / float64(s.N)
	}
	return s
}

// complete reports whether every run had the figure.
func (s Spread) complete() bool { return s.N > 0 && s.Missing == 0 }

// TuneSummary is what the runs of one combination measured.
type TuneSummary struct {
	Combination
	// Runs is the number of runs summarized.
	Runs int `json:"runs"`
	// EffectivePollInterval is the longest wait between polls the clients
	// kept to in these runs, when it differs from PollInterval (the
	// server's <pollinterval> floor was longer).
	EffectivePollInterval Duration `json:"effective_poll_interval,omitzero"`
	// The figures of RunFigures over the runs; durations in seconds,
	// Errors and SteadyErrors as shares (0.01 is 1%).
	SteadyPer1000 Spread `json:"steady_per_1000"`
	PeakRate      Spread `json:"peak_rate"`
	HerdRatio     Spread `json:"herd_ratio"`
	Green99       Spread `json:"green99"`
	Green100      Spread `json:"green100"`
	Drain         Spread `json:"drain"`
	DeliverP99    Spread `json:"deliver_p99"`
	Errors        Spread `json:"errors"`
	SteadyErrors  Spread `json:"steady_errors"`
	// Saturated counts the runs whose generator was saturated; their
	// figures may be the generator's own delays.
	Saturated int `json:"saturated,omitzero"`
	// Pareto marks the combinations no other beats on both mean herd ratio
	// and mean time to 99% Green (lower is better; times to 100 ms, finer
	// than which the 1 s gauge samples tell nothing); only combinations
	// that had both figures in every run take part.
	Pareto bool `json:"pareto,omitzero"`
}

// summarize returns the summary of the runs of combination c.
func summarize(c Combination, runs []TuneRun) TuneSummary {
	s := TuneSummary{Combination: c, Runs: len(runs)}
	fig := func(get func(RunFigures) *float64) Spread {
		vs := make([]*float64, len(runs))
		for i, r := range runs {
			vs[i] = get(r.Figures)
		}
		return spreadOf(vs)
	}
	dur := func(get func(RunFigures) *Duration) Spread {
		return fig(func(f RunFigures) *float64 {
			if d := get(f); d != nil {
				return ptr(d.Seconds())
			}
			return nil
		})
	}
	s.SteadyPer1000 = fig(func(f RunFigures) *float64 { return f.SteadyPer1000 })
	s.PeakRate = fig(func(f RunFigures) *float64 { return f.PeakRate })
	s.HerdRatio = fig(func(f RunFigures) *float64 { return f.HerdRatio })
	s.Green99 = dur(func(f RunFigures) *Duration { return f.Green99 })
	s.Green100 = dur(func(f RunFigures) *Duration { return f.Green100 })
	s.Drain = dur(func(f RunFigures) *Duration { return f.Drain })
	s.DeliverP99 = dur(func(f RunFigures) *Duration { return f.DeliverP99 })
	s.Errors = fig(func(f RunFigures) *float64 { return f.Errors })
	s.SteadyErrors = fig(func(f RunFigures) *float64 { return f.SteadyErrors })
	for _, r := range runs {
		if r.Figures.Saturated {
			s.Saturated++
		}
		if r.EffectivePollInterval != c.PollInterval && r.EffectivePollInterval > s.EffectivePollInterval {
			s.EffectivePollInterval = r.EffectivePollInterval
		}
	}
	return s
}

// TuneScenario is the scenario a sweep ran, as its base configuration set
// it.
type TuneScenario struct {
	URLs          []string `json:"urls,omitempty"` // empty: the embedded cluster
	Instances     int      `json:"instances,omitzero"`
	Clients       int      `json:"clients"`
	RampUp        Duration `json:"ramp_up"`
	Duration      Duration `json:"duration"`
	InviteRate    float64  `json:"invite_rate,omitzero"`
	Outages       []string `json:"outages,omitempty"`        // as ParseOutage reads them
	OutageWindows []string `json:"outage_windows,omitempty"` // as ParseWindow reads them
	// CommandLine is Base.CommandLine: the command that ran the sweep.
	CommandLine []string `json:"command_line,omitempty"`
}

// TuneReportVersion is the version of the TuneReport format.
const TuneReportVersion = 1

// TuneReport is the outcome of a sweep: every run's figures, each
// combination's summary with the spread of its figures, the Pareto front of
// herd ratio against time to 99% Green and the recommendation for the
// goals. It encodes to JSON with durations as seconds.
type TuneReport struct {
	Version  int          `json:"version"` // TuneReportVersion
	Scenario TuneScenario `json:"scenario"`
	Repeat   int          `json:"repeat"`
	// Seed is the sweep's seed: the runs' seeds derive from it, so that
	// Base.Seed = Seed repeats the sweep.
	Seed  uint64    `json:"seed"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Swept names the dimensions with more than one value: "poll",
	// "spread", "drain", "slowdown".
	Swept []string `json:"swept,omitempty"`
	// Goals are the goals of the recommendation, as ParseGoal reads them.
	Goals []string `json:"goals,omitempty"`
	// Combinations are the summaries, in sweep order: poll interval, then
	// recovery spread, drain rate and slow-down.
	Combinations []TuneSummary `json:"combinations"`
	// Runs are the runs in the order they ran.
	Runs []TuneRun `json:"runs"`
	// Recommendation is nil without goals.
	Recommendation *Recommendation `json:"recommendation,omitempty"`
	// Complete is false when the sweep stopped early (a failed run, or its
	// context ended): the summaries are of the runs done.
	Complete bool `json:"complete"`
}

// Recommendation is the combination a sweep recommends for its goals.
type Recommendation struct {
	// Met says some combination met every goal; Combination is then the
	// one recommended, else the closest to meeting them.
	Met bool `json:"met"`
	// Combination is an index into TuneReport.Combinations; -1 when there
	// is none to name.
	Combination int `json:"combination"`
	// Reason says why, in words: which bound held and what it costs, or
	// which goal failed and by how much.
	Reason string `json:"reason"`
}

// ErrBadGoal reports a goal that ParseGoal cannot read or a sweep cannot
// measure; the wrapping error says which.
var ErrBadGoal = errors.New("bad goal")

// ParseGoal reads a goal of a sweep, written as a threshold
// (ParseThreshold) of one of the metrics a sweep measures: herd, green99,
// green100, drain (durations), p99{deliver} (the delivery latency),
// errors and steady_errors (percentages), e.g. "herd<1.5" or
// "green99<=45s". The error wraps ErrBadGoal, and ErrBadThreshold when the
// threshold itself does not parse.
func ParseGoal(s string) (Threshold, error) {
	t, err := ParseThreshold(s)
	if err != nil {
		return t, fmt.Errorf("%w: %w", ErrBadGoal, err)
	}
	bad := func(why string) (Threshold, error) {
		return Threshold{}, fmt.Errorf("%w %q: %s", ErrBadGoal, s, why)
	}
	switch t.Metric {
	case "herd", "green99", "green100", "drain":
	case "p":
		if t.Percentile != 99 || t.Command != opDeliver {
			return bad("the only latency a sweep compares is p99{deliver}")
		}
	case "errors", "steady_errors":
		if t.Command != "" {
			return bad(t.Metric + " takes no {command} in a goal")
		}
		if !t.Percent {
			return bad(t.Metric + " takes a percentage in a goal, e.g. 1%")
		}
	default:
		return bad("a sweep measures herd, green99, green100, drain, p99{deliver}, errors and steady_errors")
	}
	return t, nil
}

// goalSpread returns the spread of the figure goal g limits.
func (s TuneSummary) goalSpread(g Threshold) Spread {
	switch g.Metric {
	case "herd":
		return s.HerdRatio
	case "green99":
		return s.Green99
	case "green100":
		return s.Green100
	case "drain":
		return s.Drain
	case "p":
		return s.DeliverP99
	case "errors":
		return s.Errors
	case "steady_errors":
		return s.SteadyErrors
	}
	return Spread{}
}

// worst returns the value of the run least favourable to goal g: the
// highest for < and <=, the lowest for > and >=.
func worst(g Threshold, sp Spread) float64 {
	if g.Op == OpGreater || g.Op == OpGreaterEqual {
		return sp.Min
	}
	return sp.Max
}

// excess says how far v is from meeting goal g, relative to its limit (0
// when it holds).
func excess(g Threshold, v float64) float64 {
	if g.Op.holds(v, g.Limit) {
		return 0
	}
	d := math.Abs(v - g.Limit)
	if g.Limit == 0 {
		return d
	}
	return d / g.Limit
}

// fmtGoal formats a figure that goal g limits, in g's unit.
func fmtGoal(g Threshold, v float64) string {
	switch {
	case g.Metric == "herd":
		return fmtRatio(v)
	case g.Percent:
		return fmtPercent(v)
	case g.unit() == unitDuration:
		return fmtSecs(v)
	}
	return g.format(v)
}

// check returns whether s meets every goal in every run and, when not, how
// far the worst goal is from holding (Inf for a missing figure) and why.
func (s TuneSummary) check(goals []Threshold) (ok bool, dist float64, why string) {
	if s.Runs == 0 {
		return false, math.Inf(1), "not run (the sweep stopped early)"
	}
	ok = true
	for _, g := range goals {
		sp := s.goalSpread(g)
		if !sp.complete() {
			return false, math.Inf(1), fmt.Sprintf("%s not measured in %d of %d runs", g.name(), sp.Missing, s.Runs)
		}
		v := worst(g, sp)
		if e := excess(g, v); e > 0 {
			if e > dist {
				why = fmt.Sprintf("%s failed: worst run %s", g, fmtGoal(g, v))
			}
			ok, dist = false, max(dist, e)
		}
	}
	return ok, dist, why
}

// recommend picks the combination for the goals: of those that meet every
// goal in every run (the worst run's figure within each bound) and whose
// generator was never saturated, the one with the fastest recovery (the
// lowest mean time to 99% Green to 100 ms, and every run Green again); a
// tie goes to
// the lower mean herd ratio, then to the first in sweep order. When none
// qualifies, it names the closest: the combination whose worst goal is
// relatively nearest its bound.
func recommend(sums []TuneSummary, goals []Threshold) *Recommendation {
	if len(goals) == 0 {
		return nil
	}
	names := make([]string, len(goals))
	for i, g := range goals {
		names[i] = g.String()
	}
	goalText := strings.Join(names, " and ")
	faster := func(a, b TuneSummary) int {
		return cmp.Or(cmp.Compare(coarse(a.Green99.Mean), coarse(b.Green99.Mean)), cmp.Compare(a.HerdRatio.Mean, b.HerdRatio.Mean))
	}
	best, fastest := -1, -1
	met := 0
	for i, s := range sums {
		if !s.Green99.complete() {
			continue
		}
		if fastest < 0 || faster(s, sums[fastest]) < 0 {
			fastest = i
		}
		if ok, _, _ := s.check(goals); !ok || s.Saturated > 0 {
			continue
		}
		met++
		if best < 0 || faster(s, sums[best]) < 0 {
			best = i
		}
	}
	if best >= 0 {
		s := sums[best]
		var held []string
		for _, g := range goals {
			held = append(held, fmt.Sprintf("%s held in %s (worst %s)", g, runsText(s.Runs), fmtGoal(g, worst(g, s.goalSpread(g)))))
		}
		reason := fmt.Sprintf("%s: the fastest recovery, 99%% Green after %s, of the %d of %d combinations that meet %s; %s",
			s.Combination, fmtSpread(s.Green99, fmtSecs, "never"), met, len(sums), goalText, strings.Join(held, "; "))
		if f := sums[fastest]; fastest != best {
			cost := "no recovery time"
			if d := coarse(s.Green99.Mean) - coarse(f.Green99.Mean); d > 0 {
				cost = secs(d) + " of recovery"
			}
			reason += fmt.Sprintf("; it costs %s against the fastest overall, %s (99%% Green after %s, herd %s worst run)",
				cost, f.Combination, fmtSecs(f.Green99.Mean), fmtRatio(f.HerdRatio.Max))
		} else {
			reason += "; it is also the fastest overall"
		}
		return &Recommendation{Met: true, Combination: best, Reason: reason}
	}
	closest, cdist, cwhy := -1, math.Inf(1), ""
	for i, s := range sums {
		_, dist, why := s.check(goals)
		if s.Saturated > 0 && why == "" {
			why = fmt.Sprintf("the generator was saturated in %d of %d runs", s.Saturated, s.Runs)
		}
		if !s.Green99.complete() && why == "" {
			why = fmt.Sprintf("99%% of the clients were never Green again in %d of %d runs", s.Green99.Missing, s.Runs)
		}
		if closest < 0 || dist < cdist || dist == cdist && s.Green99.complete() && (!sums[closest].Green99.complete() || faster(s, sums[closest]) < 0) {
			closest, cdist, cwhy = i, dist, why
		}
	}
	if closest < 0 {
		return &Recommendation{Combination: -1, Reason: "no combination meets " + goalText + ": no run finished"}
	}
	return &Recommendation{Combination: closest,
		Reason: fmt.Sprintf("no combination meets %s; the closest is %s: %s", goalText, sums[closest].Combination, cwhy)}
}

// coarse rounds a time to Green, in seconds, to 100 ms: finer
// differences than that are noise of the 1 s gauge samples (taken at a
// different millisecond in each run), not a faster recovery.
func coarse(secs float64) float64 { return math.Round(secs*10) / 10 }

// runsText says "its run" or "all 3 runs".
func runsText(n int) string {
	if n == 1 {
		return "its run"
	}
	return fmt.Sprintf("all %d runs", n)
}

// secs formats a number of seconds as a duration.
func secs(s float64) string {
	return shortDur(time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond))
}

// markPareto sets Pareto on the summaries no other beats on both mean herd
// ratio and mean time to 99% Green (to 100 ms, see coarse): not higher on
// either and lower on one. Only combinations with both figures in every
// run take part.
func markPareto(sums []TuneSummary) {
	in := func(s TuneSummary) bool { return s.HerdRatio.complete() && s.Green99.complete() }
	for i := range sums {
		a := &sums[i]
		a.Pareto = in(*a)
		if !a.Pareto {
			continue
		}
		for _, b := range sums {
			bg, ag := coarse(b.Green99.Mean), coarse(a.Green99.Mean)
			if in(b) && b.HerdRatio.Mean <= a.HerdRatio.Mean && bg <= ag && (b.HerdRatio.Mean < a.HerdRatio.Mean || bg < ag) {
				a.Pareto = false
				break
			}
		}
	}
}

// combinations returns the sweep's combinations in order: poll interval,
// then recovery spread, drain rate and slow-down.
func (tc *TuneConfig) combinations() (combos []Combination, swept []string) {
	polls := orOne(tc.PollIntervals, tc.Base.PollInterval)
	spreads := orOne(tc.RecoverySpreads, tc.Base.RecoverySpread)
	drains := orOne(tc.DrainRates, tc.Base.DrainRate)
	slows := orOne(tc.SlowDowns, tc.Base.SlowDown)
	for _, d := range []struct {
		name string
		n    int
	}{{"poll", len(polls)}, {"spread", len(spreads)}, {"drain", len(drains)}, {"slowdown", len(slows)}} {
		if d.n > 1 {
			swept = append(swept, d.name)
		}
	}
	for _, p := range polls {
		for _, s := range spreads {
			for _, d := range drains {
				for _, sd := range slows {
					combos = append(combos, Combination{PollInterval: Duration(p), RecoverySpread: Duration(s), DrainRate: d, SlowDown: sd})
				}
			}
		}
	}
	return combos, swept
}

// orOne returns vs, or v alone when vs is empty.
func orOne[T any](vs []T, v T) []T {
	if len(vs) == 0 {
		return []T{v}
	}
	return vs
}

// runSeed returns the seed of run i of a sweep of seed base: distinct for
// every run, never 0 (which Config reads as random).
func runSeed(base uint64, i int) uint64 {
	s := base + uint64(i+1)*0x9e3779b97f4a7c15
	if s == 0 {
		s = 1
	}
	return s
}

// Tune runs the sweep tc describes and returns its report. Runs go round by
// round, every combination once a round, so that a drift of the machine's
// load spreads over all of them rather than biasing the last; each run has
// its own seed. Every combination's configuration is checked before the
// first run (an error wrapping ErrConfig). A failed run stops the sweep:
// Tune then returns the report of the runs done (Complete false) and the
// error, which names the run; so does the end of ctx, and a run cut short
// by it is not counted.
func Tune(ctx context.Context, tc TuneConfig) (*TuneReport, error) {
	if tc.Repeat == 0 {
		tc.Repeat = DefaultTuneRepeat
	}
	if tc.Repeat < 0 {
		return nil, fmt.Errorf("%w: Repeat %d is negative", ErrConfig, tc.Repeat)
	}
	if len(tc.Base.Outages) == 0 && len(tc.Base.OutageWindows) == 0 {
		return nil, fmt.Errorf("%w: a sweep needs an outage to recover from: Outages on the embedded cluster, OutageWindows declared for an external one", ErrConfig)
	}
	for _, g := range tc.Goals {
		if _, err := ParseGoal(g.String()); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	run := tc.Run
	if run == nil {
		run = Run
	}
	combos, swept := tc.combinations()
	for _, c := range combos {
		if err := CheckConfig(c.apply(tc.Base, 1)); err != nil {
			return nil, fmt.Errorf("%w (%s)", err, c)
		}
	}
	seed := tc.Base.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	b := tc.Base
	tr := &TuneReport{Version: TuneReportVersion, Repeat: tc.Repeat, Seed: seed, Start: time.Now(), Swept: swept,
		Scenario: TuneScenario{URLs: redactedURLs(b.URLs), Clients: cmp.Or(b.Clients, DefaultClients),
			RampUp: Duration(cmp.Or(b.RampUp, DefaultRampUp)), Duration: Duration(cmp.Or(b.Duration, DefaultDuration)),
			InviteRate: cmp.Or(b.InviteRate, DefaultInviteRate), CommandLine: b.CommandLine}}
	if len(b.URLs) == 0 {
		tr.Scenario.Instances = cmp.Or(b.Instances, DefaultInstances)
	}
	for _, o := range b.Outages {
		tr.Scenario.Outages = append(tr.Scenario.Outages, o.String())
	}
	for _, w := range b.OutageWindows {
		tr.Scenario.OutageWindows = append(tr.Scenario.OutageWindows, w.String())
	}
	for _, g := range tc.Goals {
		tr.Goals = append(tr.Goals, g.String())
	}
	finish := func() {
		tr.End = time.Now()
		byCombo := make([][]TuneRun, len(combos))
		for _, r := range tr.Runs {
			byCombo[r.Combination] = append(byCombo[r.Combination], r)
		}
		tr.Combinations = make([]TuneSummary, len(combos))
		for i, c := range combos {
			tr.Combinations[i] = summarize(c, byCombo[i])
		}
		markPareto(tr.Combinations)
		tr.Recommendation = recommend(tr.Combinations, tc.Goals)
	}
	total := len(combos) * tc.Repeat
	for rep := range tc.Repeat {
		for ci, c := range combos {
			if err := ctx.Err(); err != nil {
				finish()
				return tr, fmt.Errorf("loadgen: sweep stopped after %d of %d runs: %w", len(tr.Runs), total, err)
			}
			n := len(tr.Runs)
			cfg := c.apply(tc.Base, runSeed(seed, n))
			r, err := run(ctx, cfg)
			if err == nil && ctx.Err() != nil {
				// The run was cut short: its figures are not those of the
				// scenario.
				err = ctx.Err()
			}
			if err != nil {
				finish()
				return tr, fmt.Errorf("loadgen: run %d/%d (%s #%d, seed %d): %w", n+1, total, c, rep+1, cfg.Seed, err)
			}
			tr.Runs = append(tr.Runs, TuneRun{Combination: ci, Repeat: rep + 1, Seed: cfg.Seed,
				Figures: FiguresOf(r), EffectivePollInterval: r.Config.EffectivePollInterval})
			if tc.Progress != nil {
				tc.Progress(TuneProgress{Done: n + 1, Total: total, Run: tr.Runs[n], Combination: c})
			}
		}
	}
	finish()
	tr.Complete = true
	return tr, nil
}

// redactedURLs returns the URLs with their passwords redacted.
func redactedURLs(urls []string) []string {
	out := slices.Clone(urls)
	for i, raw := range out {
		if u, err := url.Parse(raw); err == nil {
			out[i] = u.Redacted()
		}
	}
	return out
}
