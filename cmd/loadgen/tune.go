package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/loadgen"
	"github.com/spf13/pflag"
)

// tuneRun runs one configuration of a sweep; tests replace it.
var tuneRun = loadgen.Run

// errGoalNotMet reports that no combination met the --goal (already
// printed); it exits 1 like a crossed threshold.
var errGoalNotMet = fmt.Errorf("goal not met: %w", errThresholds)

const tuneUsage = `loadgen tune: which poll interval and recovery spread do we ship?

Runs every combination of the listed poll intervals, recovery spreads (and
drain rates, server slow-downs) against the same outage scenario, --repeat
times each with its own seed, and prints each figure's mean [min–max] over
the runs, the Pareto front of herd ratio against time to 99% Green and, for
a --goal, the combination recommended.

  loadgen tune --poll-interval 10s,30s --recovery-spread 30s,1m --repeat 3 \
      --clients 500 --duration 90s --outage down:15s@40s --goal 'herd<1.5' --html tune.html

Against an external cluster (--url) loadgen cannot switch the outage: cause
it at each run's --outage-window yourself, or with a chaos tool.

Exit codes: 0 success, 1 no combination meets the --goal, 2 bad flags,
3 a run failed.

Flags:
`

// tuneFlags are the parsed flags of loadgen tune.
type tuneFlags struct {
	tc        loadgen.TuneConfig
	out, html string
}

// configureTune reads the flags of loadgen tune; errDone after --help or
// --version, printed to stdout.
func configureTune(args []string, stdout, stderr io.Writer) (tuneFlags, error) {
	var (
		f        tuneFlags
		cfg      = &f.tc.Base
		slowDown []string
		goals    []string
	)
	fs := pflag.NewFlagSet("loadgen tune", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stdout, tuneUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	var version bool
	fs.BoolVar(&version, "version", false, "print the version and exit")
	// The sweep.
	fs.DurationSliceVar(&f.tc.PollIntervals, "poll-interval", []time.Duration{loadgen.DefaultPollInterval}, "poll intervals to sweep, comma-separated (the embedded cluster asks for the same)")
	fs.DurationSliceVar(&f.tc.RecoverySpreads, "recovery-spread", []time.Duration{client.DefaultRecoverySpread}, "recovery spreads to sweep, comma-separated")
	fs.Float64SliceVar(&f.tc.DrainRates, "drain-rate", nil, fmt.Sprintf("outbox drain rates (items/s) to sweep, comma-separated (default: the SDK's %v)", client.DefaultDrainRate))
	fs.StringSliceVar(&slowDown, "slowdown", nil, "embedded cluster: server slow-downs after the outage to sweep, comma-separated, each none or INTERVAL:DURATION (e.g. none,60s:2m)")
	fs.IntVar(&f.tc.Repeat, "repeat", loadgen.DefaultTuneRepeat, "runs of each combination, each with its own seed")
	fs.StringArrayVar(&goals, "goal", nil, "recommend the fastest recovery (lowest mean green99) whose worst run meets this, e.g. 'herd<1.5' (repeatable, all must hold): herd, green99, green100, drain, p99{deliver}, errors, steady_errors")
	fs.StringVar(&f.out, "out", "", "write the JSON tune report (every run's figures and the summaries) to this file")
	fs.StringVar(&f.html, "html", "", "write the HTML page with the trade-off chart to this file")
	// The scenario.
	scenario := addScenarioFlags(fs, cfg)
	fs.DurationVar(&cfg.PollMaxInterval, "poll-max-interval", 0, "cap of the poll loop's backoff while the server is unreachable (default: the SDK's, or the poll interval when longer)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the sweep; each run's seed derives from it (0: random, printed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return f, errDone
		}
		return f, usageError{fmt.Errorf("%w (loadgen tune --help lists the flags; a sweep runs one scenario of the embedded cluster or of --url)", err)}
	}
	if version {
		fmt.Fprintln(stdout, versionLine())
		return f, errDone
	}
	if fs.NArg() > 0 {
		return f, usageError{fmt.Errorf("tune: unexpected argument %q (flags only)", fs.Arg(0))}
	}
	if fs.Changed("repeat") && f.tc.Repeat == 0 {
		return f, usageError{errors.New("--repeat must be positive")}
	}
	if f.tc.Repeat < 0 {
		return f, usageError{fmt.Errorf("--repeat %d must be positive", f.tc.Repeat)}
	}
	for _, d := range f.tc.PollIntervals {
		if d <= 0 {
			return f, usageError{fmt.Errorf("--poll-interval %s must be positive", d)}
		}
	}
	for _, d := range f.tc.RecoverySpreads {
		if d <= 0 {
			return f, usageError{fmt.Errorf("--recovery-spread %s must be positive", d)}
		}
	}
	for _, r := range f.tc.DrainRates {
		if !(r > 0) {
			return f, usageError{fmt.Errorf("--drain-rate %v must be positive", r)}
		}
	}
	for _, s := range slowDown {
		var sd loadgen.SlowDown
		if err := sd.UnmarshalText([]byte(s)); err != nil {
			return f, usageError{fmt.Errorf("--slowdown: %w", err)}
		}
		f.tc.SlowDowns = append(f.tc.SlowDowns, sd)
	}
	if err := scenario.apply(fs); err != nil {
		return f, err
	}
	if len(cfg.Outages) == 0 && len(cfg.OutageWindows) == 0 {
		return f, usageError{errors.New("tune: the sweep needs an outage to recover from: --outage on the embedded cluster, or --outage-window with --url")}
	}
	for _, s := range goals {
		g, err := loadgen.ParseGoal(s)
		if err != nil {
			return f, usageError{fmt.Errorf("--goal: %w", err)}
		}
		f.tc.Goals = append(f.tc.Goals, g)
	}
	if err := checkOutputs([]outputFile{{flag: "out", path: f.out}, {flag: "html", path: f.html}}); err != nil {
		return f, err
	}
	cfg.CommandLine = commandLine(append([]string{"tune"}, args...))
	return f, nil
}

// runTune is loadgen tune: flags in, a sweep run, its table and
// recommendation out.
func runTune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := configureTune(args, stdout, stderr)
	if errors.Is(err, errDone) {
		return nil
	}
	if err != nil {
		return err
	}
	setTimerSlack(&f.tc.Base, stderr) // may execute the program again, with the same arguments
	// A second Ctrl-C, with the default handler back, ends the program.
	stopped := context.AfterFunc(ctx, func() { signal.Reset(os.Interrupt, syscall.SIGTERM) })
	defer stopped()

	f.tc.Run = tuneRun
	f.tc.Progress = func(p loadgen.TuneProgress) { fmt.Fprintln(stderr, p) }
	tr, err := loadgen.Tune(ctx, f.tc)
	if tr == nil {
		if errors.Is(err, loadgen.ErrConfig) {
			return usageError{flagError(err)}
		}
		return err
	}
	// A sweep stopped by a failed run still prints what it measured.
	if werr := writeTune(tr, f, stdout); werr != nil {
		return werr
	}
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// Ctrl-C: what ran is printed above; an interrupted sweep is not
		// a failed run, and its recommendation is of the runs done only.
		fmt.Fprintf(stdout, "sweep interrupted after %d of %d runs: the figures and any recommendation are of those runs only\n",
			len(tr.Runs), tuneTotal(f.tc))
		return nil
	}
	if err != nil {
		return err
	}
	if r := tr.Recommendation; r != nil && !r.Met {
		return errGoalNotMet
	}
	return nil
}

// tuneTotal is the number of runs of the sweep tc describes.
func tuneTotal(tc loadgen.TuneConfig) int {
	n := cmp.Or(tc.Repeat, loadgen.DefaultTuneRepeat)
	for _, dim := range []int{len(tc.PollIntervals), len(tc.RecoverySpreads), len(tc.DrainRates), len(tc.SlowDowns)} {
		n *= max(dim, 1)
	}
	return n
}

// writeTune prints the table and writes the files.
func writeTune(tr *loadgen.TuneReport, f tuneFlags, stdout io.Writer) error {
	if err := loadgen.TuneTextReporter(tr)(stdout); err != nil {
		return err
	}
	for _, file := range []struct {
		path string
		rep  loadgen.Reporter
	}{{f.out, loadgen.TuneJSONReporter(tr)}, {f.html, loadgen.TuneHTMLReporter(tr)}} {
		if file.path == "" {
			continue
		}
		if err := writeFile(file.path, file.rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", file.path)
	}
	return nil
}
