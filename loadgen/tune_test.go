package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// synth is the synthetic outcome of one run.
type synth struct {
	herd             float64
	green99, drain   *time.Duration
	green100         *time.Duration
	deliverP99       time.Duration
	errors, requests int64
	saturated        bool
}

func dp(d time.Duration) *time.Duration { return &d }

// synthReport makes the report of a run of cfg that measured s.
func synthReport(cfg Config, s synth) *Report {
	clients := orDef(cfg.Clients, 500)
	steady := 0.2 * float64(clients) // 200 req/s per 1,000 clients
	o := OutageFigures{Outage: "down:15s@30s", SteadyRate: steady, PeakRate: s.herd * steady, HerdRatio: s.herd}
	opt := func(d *time.Duration) *Duration {
		if d == nil {
			return nil
		}
		return ptr(Duration(*d))
	}
	o.Green99, o.Green100, o.Drain = opt(s.green99), opt(s.green100), opt(s.drain)
	r := &Report{
		Config:   RunConfig{Clients: clients, PollInterval: Duration(cfg.PollInterval), EffectivePollInterval: Duration(cfg.PollInterval)},
		Requests: orDef(s.requests, 1000), Errors: s.errors,
		Outages:   []OutageFigures{o},
		Generator: &GeneratorStats{Saturated: s.saturated},
	}
	if s.deliverP99 > 0 {
		r.Operations = map[string]*CommandStats{opDeliver: {Requests: 10, Latency: Latency{Count: 10, P99: Duration(s.deliverP99)}}}
	}
	return r
}

func orDef[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// tuneBase is a scenario the fake runs accept.
func tuneBase() Config {
	return Config{Clients: 500, Duration: 60 * time.Second, RampUp: 5 * time.Second, Seed: 7,
		Outages: []Outage{{Mode: OutageDown, At: 30 * time.Second, Duration: 15 * time.Second}}}
}

// TestTuneBookkeeping: every combination runs Repeat times, round by
// round, each run with its own seed and its combination's settings, and
// progress is reported once per run.
func TestTuneBookkeeping(t *testing.T) {
	var (
		mu   sync.Mutex
		cfgs []Config
	)
	var lines []string
	tr, err := Tune(t.Context(), TuneConfig{
		Base:            tuneBase(),
		PollIntervals:   []time.Duration{10 * time.Second, 30 * time.Second},
		RecoverySpreads: []time.Duration{30 * time.Second, time.Minute},
		Repeat:          3,
		Run: func(_ context.Context, cfg Config) (*Report, error) {
			mu.Lock()
			cfgs = append(cfgs, cfg)
			mu.Unlock()
			return synthReport(cfg, synth{herd: 1.5, green99: dp(31 * time.Second)}), nil
		},
		Progress: func(p TuneProgress) { lines = append(lines, p.String()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 12 || len(tr.Runs) != 12 || len(tr.Combinations) != 4 || !tr.Complete {
		t.Fatalf("%d runs, %d recorded, %d combinations, complete %v; want 12, 12, 4, true", len(cfgs), len(tr.Runs), len(tr.Combinations), tr.Complete)
	}
	seeds := map[uint64]bool{}
	perCombo := map[int]int{}
	for i, r := range tr.Runs {
		c := tr.Combinations[r.Combination].Combination
		cfg := cfgs[i]
		if time.Duration(c.PollInterval) != cfg.PollInterval || time.Duration(c.RecoverySpread) != cfg.RecoverySpread {
			t.Errorf("run %d of %s ran with poll %s spread %s", i, c, cfg.PollInterval, cfg.RecoverySpread)
		}
		if cfg.Seed == 0 || cfg.Seed != r.Seed || seeds[r.Seed] {
			t.Errorf("run %d: seed %d (recorded %d) is 0 or repeated", i, cfg.Seed, r.Seed)
		}
		seeds[r.Seed] = true
		perCombo[r.Combination]++
		if want := i/4 + 1; r.Repeat != want || r.Combination != i%4 {
			t.Errorf("run %d is combination %d #%d, want %d #%d (round by round)", i, r.Combination, r.Repeat, i%4, want)
		}
		if len(cfg.Outages) != 1 || cfg.Clients != 500 {
			t.Errorf("run %d lost the scenario: %+v", i, cfg)
		}
	}
	for ci, n := range perCombo {
		if n != 3 || tr.Combinations[ci].Runs != 3 {
			t.Errorf("combination %d ran %d times, summary says %d; want 3", ci, n, tr.Combinations[ci].Runs)
		}
	}
	wantOrder := []string{"poll 10s spread 30s", "poll 10s spread 1m", "poll 30s spread 30s", "poll 30s spread 1m"}
	for i, w := range wantOrder {
		if got := tr.Combinations[i].Combination.String(); got != w {
			t.Errorf("combination %d is %q, want %q", i, got, w)
		}
	}
	if len(lines) != 12 || lines[2] != "run 3/12: poll 30s spread 30s #1: herd 1.50 green99 31s" {
		t.Errorf("progress: %d lines, the third %q", len(lines), lines[2])
	}
	// The same seed repeats the sweep's seeds.
	again, _ := Tune(t.Context(), TuneConfig{Base: tuneBase(), PollIntervals: []time.Duration{10 * time.Second, 30 * time.Second},
		RecoverySpreads: []time.Duration{30 * time.Second, time.Minute},
		Run: func(_ context.Context, cfg Config) (*Report, error) {
			return synthReport(cfg, synth{herd: 1.5}), nil
		}})
	for i := range again.Runs {
		if again.Runs[i].Seed != tr.Runs[i].Seed {
			t.Fatalf("run %d: seed %d, then %d with the same base seed", i, tr.Runs[i].Seed, again.Runs[i].Seed)
		}
	}
	if again.Repeat != DefaultTuneRepeat || len(again.Runs) != 4*DefaultTuneRepeat {
		t.Errorf("Repeat 0 ran %d times per combination, want %d", again.Repeat, DefaultTuneRepeat)
	}
}

// TestTuneDimensions: drain rates and slow-downs multiply the
// combinations; an empty list keeps the base's value.
func TestTuneDimensions(t *testing.T) {
	base := tuneBase()
	base.RecoverySpread = 45 * time.Second
	var got []Config
	tr, err := Tune(t.Context(), TuneConfig{
		Base: base, Repeat: 1,
		PollIntervals: []time.Duration{10 * time.Second},
		DrainRates:    []float64{5, 10},
		SlowDowns:     []SlowDown{{}, {Interval: time.Minute, For: 2 * time.Minute}},
		Run: func(_ context.Context, cfg Config) (*Report, error) {
			got = append(got, cfg)
			return synthReport(cfg, synth{herd: 1.2}), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d runs, want 2 drain rates × 2 slow-downs", len(got))
	}
	for _, cfg := range got {
		if cfg.RecoverySpread != 45*time.Second || cfg.PollInterval != 10*time.Second {
			t.Errorf("run with spread %s poll %s, want the base's 45s and 10s", cfg.RecoverySpread, cfg.PollInterval)
		}
	}
	if got[3].DrainRate != 10 || got[3].SlowDown.Interval != time.Minute {
		t.Errorf("last run: drain %v slow-down %s", got[3].DrainRate, got[3].SlowDown)
	}
	if s := tr.Combinations[3].Combination.String(); s != "poll 10s spread 45s drain 10/s slowdown 1m0s:2m0s" {
		t.Errorf("name %q", s)
	}
	if l := tr.Combinations[3].short(tr.Swept); l != "10/s/1m:2m" {
		t.Errorf("chart label %q (swept %v)", l, tr.Swept)
	}
}

// TestTuneAggregates: each figure is summarized with its mean and min–max
// over the runs; a run without the figure is counted, not averaged as 0.
func TestTuneAggregates(t *testing.T) {
	runs := 0
	outcomes := []synth{
		{herd: 1.2, green99: dp(30 * time.Second), green100: dp(40 * time.Second), drain: dp(50 * time.Second), deliverP99: 2 * time.Second, errors: 10},
		{herd: 1.8, green99: dp(40 * time.Second), green100: nil, drain: nil, deliverP99: 4 * time.Second, errors: 30, saturated: true},
		{herd: 1.5, green99: dp(35 * time.Second), green100: nil, drain: dp(70 * time.Second), errors: 20},
	}
	tr, err := Tune(t.Context(), TuneConfig{Base: tuneBase(), Repeat: 3,
		Run: func(_ context.Context, cfg Config) (*Report, error) {
			runs++
			return synthReport(cfg, outcomes[runs-1]), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	s := tr.Combinations[0]
	near := func(name string, got Spread, want Spread) {
		t.Helper()
		if got.N != want.N || got.Missing != want.Missing || math.Abs(got.Mean-want.Mean) > 1e-9 ||
			math.Abs(got.Min-want.Min) > 1e-9 || math.Abs(got.Max-want.Max) > 1e-9 {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	near("herd", s.HerdRatio, Spread{N: 3, Mean: 1.5, Min: 1.2, Max: 1.8})
	near("green99", s.Green99, Spread{N: 3, Mean: 35, Min: 30, Max: 40})
	near("green100", s.Green100, Spread{N: 1, Missing: 2, Mean: 40, Min: 40, Max: 40})
	near("drain", s.Drain, Spread{N: 2, Missing: 1, Mean: 60, Min: 50, Max: 70})
	near("deliver p99", s.DeliverP99, Spread{N: 2, Missing: 1, Mean: 3, Min: 2, Max: 4})
	near("steady per 1000", s.SteadyPer1000, Spread{N: 3, Mean: 200, Min: 200, Max: 200})
	near("peak", s.PeakRate, Spread{N: 3, Mean: 150, Min: 120, Max: 180})
	near("errors", s.Errors, Spread{N: 3, Mean: 0.02, Min: 0.01, Max: 0.03})
	if s.Saturated != 1 {
		t.Errorf("saturated runs %d, want 1", s.Saturated)
	}
}

// TestFiguresOfWorstOutage: with two outages each figure is the worst
// one's, and a figure one outage lacks is missing.
func TestFiguresOfWorstOutage(t *testing.T) {
	r := &Report{Config: RunConfig{Clients: 2000}, Requests: 100, Errors: 4,
		ErrorSplit: &ErrorSplit{SteadyRequests: 80, SteadyErrors: 1},
		Outages: []OutageFigures{
			{SteadyRate: 400, PeakRate: 600, HerdRatio: 1.5, Green99: ptr(Duration(20 * time.Second)), Drain: ptr(Duration(30 * time.Second))},
			{SteadyRate: 300, PeakRate: 630, HerdRatio: 2.1, Green99: ptr(Duration(25 * time.Second)), Green100: ptr(Duration(time.Minute))},
		}}
	f := FiguresOf(r)
	if *f.SteadyPer1000 != 200 || *f.PeakRate != 630 || *f.HerdRatio != 2.1 || *f.Green99 != Duration(25*time.Second) {
		t.Errorf("figures %v %v %v %v", *f.SteadyPer1000, *f.PeakRate, *f.HerdRatio, *f.Green99)
	}
	if f.Green100 != nil || f.Drain != nil || f.DeliverP99 != nil {
		t.Errorf("a figure one outage lacks is not missing: %+v", f)
	}
	if *f.Errors != 0.04 || *f.SteadyErrors != 1.0/80 {
		t.Errorf("errors %v steady %v", *f.Errors, *f.SteadyErrors)
	}
	r.Outages[1].SteadyRate, r.Outages[1].HerdRatio = 0, 0
	if f := FiguresOf(r); f.HerdRatio != nil {
		t.Errorf("herd %v without a steady rate before one outage", *f.HerdRatio)
	}
	if f := FiguresOf(&Report{}); f.HerdRatio != nil || f.Errors != nil || f.Green99 != nil {
		t.Errorf("an empty report has figures: %+v", f)
	}
}

// sum makes a summary with every run measured: herd and green99 spreads.
func sum(name string, herdMean, herdMax, green99 float64) TuneSummary {
	d, _ := time.ParseDuration(name)
	return TuneSummary{Combination: Combination{PollInterval: Duration(d)}, Runs: 3,
		HerdRatio: Spread{N: 3, Mean: herdMean, Min: herdMean - 0.1, Max: herdMax},
		Green99:   Spread{N: 3, Mean: green99, Min: green99 - 1, Max: green99 + 1}}
}

func TestParetoFront(t *testing.T) {
	sums := []TuneSummary{
		sum("1s", 2.0, 2.2, 20), // front: fastest
		sum("2s", 1.5, 1.6, 30), // front
		sum("3s", 1.6, 1.7, 35), // beaten by 2s on both
		sum("4s", 1.2, 1.3, 60), // front: lowest herd
		sum("5s", 1.5, 1.6, 30), // equal to 2s: neither beats the other
		sum("6s", 1.2, 1.3, 61), // beaten by 4s on green99 alone
		sum("7s", 1.0, 1.0, 10), // would beat all, but a run never went Green
	}
	sums[6].Green99.N, sums[6].Green99.Missing = 2, 1
	markPareto(sums)
	want := []bool{true, true, false, true, true, false, false}
	for i, s := range sums {
		if s.Pareto != want[i] {
			t.Errorf("%s: Pareto %v, want %v", s.Combination, s.Pareto, want[i])
		}
	}
}

// TestParetoSubSampleDifferences: times to Green a millisecond apart
// (the gauges were sampled at another millisecond of the second) are a
// tie, which the lower herd ratio wins, on the front and in the
// recommendation.
func TestParetoSubSampleDifferences(t *testing.T) {
	sums := []TuneSummary{sum("2s", 1.97, 1.97, 7.0003), sum("5s", 5.05, 5.05, 6.9997)}
	markPareto(sums)
	if !sums[0].Pareto || sums[1].Pareto {
		t.Errorf("Pareto %v %v, want only poll 2s", sums[0].Pareto, sums[1].Pareto)
	}
	r := recommend(sums, goals(t, "herd<3"))
	if !r.Met || r.Combination != 0 || !strings.Contains(r.Reason, "it is also the fastest overall") || !strings.Contains(r.Reason, "held in all 3 runs") {
		t.Errorf("%+v", r)
	}
	sums[0].Drain = Spread{N: 3, Mean: 20, Min: 19, Max: 21}
	sums[1].HerdRatio.Mean = 1.9 // now the fastest overall, but not drained in time
	sums[1].Drain = Spread{N: 3, Mean: 200, Min: 190, Max: 210}
	r = recommend(sums, goals(t, "drain<1m"))
	if !r.Met || r.Combination != 0 || !strings.Contains(r.Reason, "it costs no recovery time against the fastest overall, poll 5s") {
		t.Errorf("%+v", r)
	}
}

func goals(t *testing.T, ss ...string) []Threshold {
	t.Helper()
	var out []Threshold
	for _, s := range ss {
		g, err := ParseGoal(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, g)
	}
	return out
}

func TestRecommend(t *testing.T) {
	t.Run("met: the fastest under the bound, by the worst run", func(t *testing.T) {
		sums := []TuneSummary{
			sum("10s", 2.0, 2.3, 20),  // fastest, herd too high
			sum("20s", 1.3, 1.55, 25), // mean under 1.5, worst run over
			sum("30s", 1.3, 1.45, 40),
			sum("40s", 1.1, 1.2, 60),
		}
		r := recommend(sums, goals(t, "herd<1.5"))
		if !r.Met || r.Combination != 2 {
			t.Fatalf("%+v, want poll 30s", r)
		}
		for _, want := range []string{"poll 30s", "herd<1.5 held in all 3 runs (worst 1.45)", "2 of 4", "costs 20s of recovery", "poll 10s"} {
			if !strings.Contains(r.Reason, want) {
				t.Errorf("reason %q does not say %q", r.Reason, want)
			}
		}
	})
	t.Run("several goals hold together", func(t *testing.T) {
		sums := []TuneSummary{sum("10s", 1.2, 1.3, 20), sum("20s", 1.2, 1.3, 50)}
		sums[0].Drain = Spread{N: 3, Mean: 120, Min: 110, Max: 130}
		sums[1].Drain = Spread{N: 3, Mean: 80, Min: 70, Max: 90}
		r := recommend(sums, goals(t, "herd<1.5", "drain<=100s"))
		if !r.Met || r.Combination != 1 {
			t.Fatalf("%+v, want poll 20s, the only one drained within 100s", r)
		}
	})
	t.Run("ties go to the lower herd, then to sweep order", func(t *testing.T) {
		sums := []TuneSummary{sum("10s", 1.4, 1.45, 30), sum("20s", 1.2, 1.3, 30), sum("30s", 1.2, 1.3, 30)}
		if r := recommend(sums, goals(t, "herd<1.5")); r.Combination != 1 {
			t.Errorf("%+v, want poll 20s", r)
		}
	})
	t.Run("not met: the closest is named", func(t *testing.T) {
		sums := []TuneSummary{sum("10s", 2.0, 2.3, 20), sum("20s", 1.5, 1.62, 25), sum("30s", 1.6, 1.7, 40)}
		r := recommend(sums, goals(t, "herd<1.5"))
		if r.Met || r.Combination != 1 || !strings.Contains(r.Reason, "no combination meets herd<1.5") ||
			!strings.Contains(r.Reason, "closest is poll 20s") || !strings.Contains(r.Reason, "worst run 1.62") {
			t.Errorf("%+v", r)
		}
	})
	t.Run("a missing figure does not meet a goal", func(t *testing.T) {
		sums := []TuneSummary{sum("10s", 1.2, 1.3, 20), sum("20s", 1.4, 1.6, 30)}
		sums[0].Green99.N, sums[0].Green99.Missing = 2, 1 // one run never went Green
		r := recommend(sums, goals(t, "herd<1.5"))
		if r.Met {
			t.Errorf("%+v: a combination that never recovered in a run, or over the bound, was recommended", r)
		}
		if !strings.Contains(r.Reason, "never Green again in 1 of") {
			t.Errorf("reason %q does not say why the closest was not recommended", r.Reason)
		}
		r = recommend(sums, goals(t, "green99<1m"))
		if !r.Met || r.Combination != 1 {
			t.Errorf("%+v, want poll 20s", r)
		}
	})
	t.Run("a saturated generator is not recommended", func(t *testing.T) {
		sums := []TuneSummary{sum("10s", 1.2, 1.3, 20), sum("20s", 1.2, 1.3, 30)}
		sums[0].Saturated = 1
		if r := recommend(sums, goals(t, "herd<1.5")); !r.Met || r.Combination != 1 {
			t.Errorf("%+v, want poll 20s", r)
		}
		sums[1].Saturated = 2
		if r := recommend(sums, goals(t, "herd<1.5")); r.Met || !strings.Contains(r.Reason, "saturated") {
			t.Errorf("%+v, want not met for saturation", r)
		}
	})
	if r := recommend([]TuneSummary{sum("10s", 1, 1, 1)}, nil); r != nil {
		t.Errorf("a recommendation without goals: %+v", r)
	}
}

func TestParseGoal(t *testing.T) {
	for _, s := range []string{"herd<1.5", "green99<=45s", "green100<2m", "drain<100s", "p99{deliver}<30s", "errors<1%", "steady_errors<0.1%"} {
		if g, err := ParseGoal(s); err != nil || g.String() != s {
			t.Errorf("%q: %v, %v", s, g, err)
		}
	}
	for _, s := range []string{"herd", "p99<1s", "p50{deliver}<1s", "errors<10", "rps>100", "herd<fast", "errors{login}<1%"} {
		_, err := ParseGoal(s)
		if !errors.Is(err, ErrBadGoal) {
			t.Errorf("%q: %v, want ErrBadGoal", s, err)
		}
	}
	if _, err := ParseGoal("herd<fast"); !errors.Is(err, ErrBadThreshold) {
		t.Errorf("a threshold that does not parse: %v, want ErrBadThreshold too", err)
	}
}

// TestTuneStopsOnFailedRun: a failed run stops the sweep; the report of
// the runs done comes back with the error, which names the run.
func TestTuneStopsOnFailedRun(t *testing.T) {
	boom := errors.New("boom")
	n := 0
	tr, err := Tune(t.Context(), TuneConfig{Base: tuneBase(), PollIntervals: []time.Duration{10 * time.Second, 30 * time.Second}, Repeat: 2,
		Goals: goals(t, "herd<1.5"),
		Run: func(_ context.Context, cfg Config) (*Report, error) {
			if n++; n == 3 {
				return nil, boom
			}
			return synthReport(cfg, synth{herd: 1.2, green99: dp(time.Second)}), nil
		}})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "run 3/4 (poll 10s spread default #2") {
		t.Errorf("error %v", err)
	}
	if tr == nil || tr.Complete || len(tr.Runs) != 2 || tr.Combinations[0].Runs != 1 || tr.Recommendation == nil {
		t.Fatalf("partial report %+v", tr)
	}
	var out bytes.Buffer
	if err := TuneTextReporter(tr)(&out); err != nil || !strings.Contains(out.String(), "STOPPED EARLY after 2 of 4 runs") {
		t.Errorf("text %q, %v", out.String(), err)
	}
}

func TestTuneChecksBeforeRunning(t *testing.T) {
	never := func(context.Context, Config) (*Report, error) {
		t.Fatal("a run started")
		return nil, nil
	}
	noOutage := tuneBase()
	noOutage.Outages = nil
	for name, tc := range map[string]TuneConfig{
		"no outage":        {Base: noOutage, Run: never},
		"bad poll":         {Base: tuneBase(), PollIntervals: []time.Duration{-time.Second}, Run: never},
		"negative repeat":  {Base: tuneBase(), Repeat: -1, Run: never},
		"slowdown on urls": {Base: Config{URLs: []string{"http://a"}, OutageWindows: []Window{{At: time.Second, Duration: time.Second}}}, SlowDowns: []SlowDown{{Interval: time.Minute, For: time.Minute}}, Run: never},
		"bad goal":         {Base: tuneBase(), Goals: []Threshold{{Metric: "rps", Op: OpLess, Limit: 1, text: "1"}}, Run: never},
	} {
		if _, err := Tune(t.Context(), tc); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

// sweepReport is a small finished sweep for the reporters.
func sweepReport(t *testing.T) *TuneReport {
	t.Helper()
	herd := map[time.Duration][]float64{10 * time.Second: {2.1, 2.4, 2.2}, 30 * time.Second: {1.3, 1.4, 1.45}}
	green := map[time.Duration]time.Duration{10 * time.Second: 20 * time.Second, 30 * time.Second: 41 * time.Second}
	n := map[time.Duration]int{}
	tr, err := Tune(t.Context(), TuneConfig{Base: tuneBase(), PollIntervals: []time.Duration{10 * time.Second, 30 * time.Second},
		RecoverySpreads: []time.Duration{time.Minute}, Goals: goals(t, "herd<1.5"),
		Run: func(_ context.Context, cfg Config) (*Report, error) {
			i := n[cfg.PollInterval]
			n[cfg.PollInterval]++
			s := synth{herd: herd[cfg.PollInterval][i], green99: dp(green[cfg.PollInterval] + time.Duration(i)*time.Second),
				green100: dp(time.Minute), deliverP99: 3 * time.Second, errors: 5}
			if cfg.PollInterval == 30*time.Second && i == 2 {
				s.drain = nil
			} else {
				s.drain = dp(80 * time.Second)
			}
			return synthReport(cfg, s), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	tr.Start = time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	tr.End = tr.Start.Add(10 * time.Minute)
	tr.Scenario.CommandLine = []string{"loadgen", "tune", "--goal", "herd<1.5"}
	return tr
}

func TestTuneTextReporter(t *testing.T) {
	tr := sweepReport(t)
	var b strings.Builder
	if err := TuneTextReporter(tr)(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && (f[1] == "10s" || f[1] == "30s") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 2 {
		t.Fatalf("%d combination rows, want 2", len(rows))
	}
	for _, want := range []string{"*", "10s", "1m", "default", "none", "3", "2.23 [2.10–2.40]", "21s [20s–22s]", "1m", "1m20s", "3s", "200.0", "0.5% steady 0.5%"} {
		if !strings.Contains(rows[0], want) {
			t.Errorf("row %q does not say %q", rows[0], want)
		}
	}
	if !strings.HasPrefix(rows[1], ">*") || !strings.Contains(rows[1], "1.38 [1.30–1.45]") || !strings.Contains(rows[1], "  1m20s, never in 1 of 3  ") {
		t.Errorf("recommended row %q", rows[1])
	}
	for _, want := range []string{"500 clients", "down:15s@30s", "2 combinations × 3 runs", "RECOMMENDED for herd<1.5: poll 30s spread 1m", "worst run"} {
		if !strings.Contains(out, want) {
			t.Errorf("text does not say %q", want)
		}
	}
}

func TestTuneJSONRoundTrip(t *testing.T) {
	tr := sweepReport(t)
	var b bytes.Buffer
	if err := TuneJSONReporter(tr)(&b); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTuneReport(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, tr) {
		t.Errorf("round trip differs:\n%+v\n%+v", back, tr)
	}
	// Durations are seconds, the slow-down in ParseSlowDown's form.
	var raw map[string]any
	tr.Combinations[0].SlowDown = SlowDown{Interval: time.Minute, For: 2 * time.Minute}
	b.Reset()
	_ = TuneJSONReporter(tr)(&b)
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	c0 := raw["combinations"].([]any)[0].(map[string]any)
	if c0["poll_interval"] != 10.0 || c0["recovery_spread"] != 60.0 || c0["slow_down"] != "1m0s:2m0s" {
		t.Errorf("combination JSON %v", c0)
	}
	if g := c0["green99"].(map[string]any); g["mean"] != 21.0 {
		t.Errorf("green99 %v, want a mean of 21 seconds", g)
	}
	if _, err := ReadTuneReport(strings.NewReader(`{"version": 99}`)); !errors.Is(err, ErrBadReport) {
		t.Errorf("version 99: %v", err)
	}
}

func TestTuneHTMLReporter(t *testing.T) {
	tr := sweepReport(t)
	var b strings.Builder
	if err := TuneHTMLReporter(tr)(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"<svg", `class="pareto"`, `class="point pareto recommended"`, "(recommended)", `id="recommendation"`,
		"RECOMMENDED for herd&lt;1.5", `class="bound"`, "<td>1.38 [1.30–1.45]</td>", "loadgen tune --goal herd&lt;1.5"} {
		if !strings.Contains(page, want) {
			t.Errorf("page does not contain %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "http://") && !strings.Contains(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Error("the page is not self-contained")
	}
	// A combination that never went Green in every run is listed, not drawn.
	tr.Combinations[0].Green99 = Spread{N: 2, Missing: 1, Mean: 20, Min: 20, Max: 21}
	b.Reset()
	_ = TuneHTMLReporter(tr)(&b)
	if !strings.Contains(b.String(), "poll 10s spread 1m: never 99% Green in 1 of 3 runs") {
		t.Error("the undrawn combination is not named")
	}
}

// TestTuneEndToEndFakeTime: a tiny real sweep on the in-memory cluster,
// in fake time: the figures come from whole runs and differ by poll
// interval as they should.
func TestTuneEndToEndFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var progress []string
		tr, err := Tune(t.Context(), TuneConfig{
			Base: Config{Clients: 40, RampUp: time.Second, Duration: 50 * time.Second, InviteRate: 6, DrainTimeout: 5 * time.Second, Seed: 3,
				Outages: []Outage{{Mode: OutageDown, At: 20 * time.Second, Duration: 10 * time.Second}}},
			PollIntervals:   []time.Duration{2 * time.Second, 5 * time.Second},
			RecoverySpreads: []time.Duration{5 * time.Second},
			Repeat:          2,
			Goals:           goals(t, "herd<100"),
			Run: func(ctx context.Context, cfg Config) (*Report, error) {
				cl := memCluster(t, regsim.Config{Instances: 2, Users: cfg.Clients, PollInterval: cfg.PollInterval})
				defer cl.Close()
				cfg.memCluster = cl
				return Run(ctx, cfg)
			},
			Progress: func(p TuneProgress) { progress = append(progress, p.String()) },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(strings.Join(progress, "\n"))
		if len(tr.Runs) != 4 || !tr.Complete {
			t.Fatalf("%d runs", len(tr.Runs))
		}
		for _, s := range tr.Combinations {
			if !s.HerdRatio.complete() || !s.Green99.complete() || !s.SteadyPer1000.complete() {
				t.Errorf("%s: figures missing: herd %+v green99 %+v steady %+v", s.Combination, s.HerdRatio, s.Green99, s.SteadyPer1000)
			}
		}
		// Polls every 2 s are 500/s per 1,000 clients, every 5 s 200/s:
		// the same invitations on top.
		fast, slow := tr.Combinations[0].SteadyPer1000.Mean, tr.Combinations[1].SteadyPer1000.Mean
		if d := fast - slow; d < 150 || d > 450 {
			t.Errorf("steady rate per 1000 clients: %.0f at poll 2s, %.0f at 5s; want about 300 more polls at 2s", fast, slow)
		}
		if tr.Recommendation == nil || !tr.Recommendation.Met {
			t.Errorf("recommendation %+v", tr.Recommendation)
		}
		var b strings.Builder
		if err := TuneTextReporter(tr)(&b); err != nil {
			t.Fatal(err)
		}
		t.Log("\n" + b.String())

		// A plain run of the first combination with its first run's seed
		// measures what the sweep did: the sweep changes nothing else.
		cl := memCluster(t, regsim.Config{Instances: 2, Users: 40, PollInterval: 2 * time.Second})
		defer cl.Close()
		r, err := Run(t.Context(), Config{memCluster: cl, Clients: 40, RampUp: time.Second, Duration: 50 * time.Second, InviteRate: 6,
			DrainTimeout: 5 * time.Second, Seed: tr.Runs[0].Seed, PollInterval: 2 * time.Second, RecoverySpread: 5 * time.Second,
			Outages: []Outage{{Mode: OutageDown, At: 20 * time.Second, Duration: 10 * time.Second}}})
		if err != nil {
			t.Fatal(err)
		}
		plain, swept := FiguresOf(r), tr.Runs[0].Figures
		if *plain.SteadyPer1000 != *swept.SteadyPer1000 || math.Abs(*plain.HerdRatio-*swept.HerdRatio) > 0.05*(*swept.HerdRatio) ||
			coarse(plain.Green99.Seconds()) != coarse(swept.Green99.Seconds()) {
			t.Errorf("plain run: steady %v herd %v green99 %s; the sweep's: %v %v %s", *plain.SteadyPer1000, *plain.HerdRatio, plain.Green99,
				*swept.SteadyPer1000, *swept.HerdRatio, swept.Green99)
		}
	})
}
