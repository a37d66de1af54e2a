// Command loadgen runs thousands of real regfleet SDK clients against a
// Registration Server cluster, or against the embedded simulated cluster
// when no --url is given, and reports latency (from intended send times),
// errors, reachability, outage and herd figures and delivery accounting.
//
//	loadgen --clients 2000 --duration 90s --outage down:20s@35s --html report.html
//	loadgen --url https://reg1.staging --url https://reg2.staging --clients 500 --threshold 'p99<500ms'
//	loadgen merge shard-0.json shard-1.json --html fleet.html
//
// Exit codes: 0 success, 1 a --threshold was crossed, 2 bad flags or
// arguments, 3 the run itself failed (no client could start included).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/loadgen"
	"github.com/spf13/pflag"
)

// Exit codes.
const (
	exitOK        = 0
	exitThreshold = 1
	exitUsage     = 2
	exitFailed    = 3
)

// usageError is a bad flag or argument.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// errHelp reports that --help was asked for (and printed).
var errHelp = errors.New("help requested")

// errThresholds reports crossed thresholds (already printed).
var errThresholds = errors.New("thresholds crossed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errThresholds):
		return exitThreshold
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, message(err))
		return exitUsage
	default:
		fmt.Fprintln(stderr, message(err))
		return exitFailed
	}
}

// message is err as the command prints it: prefixed with "loadgen: " once,
// whether or not the package's error already is.
func message(err error) string {
	m := err.Error()
	if strings.HasPrefix(m, "loadgen: ") {
		return m
	}
	return "loadgen: " + m
}

// outputs are the report files and thresholds shared by a run and a merge.
type outputs struct {
	out, hgrm, html string
	thresholds      []string
	checks          []loadgen.Threshold
}

func (o *outputs) flags(fs *pflag.FlagSet) {
	fs.StringVar(&o.out, "out", "", "write the JSON report (with encoded histograms, for merge) to this file")
	fs.StringVar(&o.hgrm, "hgrm", "", "write the HdrHistogram percentile distribution (ms) of all commands to this file")
	fs.StringVar(&o.html, "html", "", "write the self-contained HTML report to this file")
	fs.StringArrayVar(&o.thresholds, "threshold", nil, "fail (exit 1) when crossed, e.g. 'p99<500ms' or 'errors<1%' (repeatable)\n"+loadgen.ThresholdHelp())
}

func (o *outputs) parse() error {
	for _, s := range o.thresholds {
		t, err := loadgen.ParseThreshold(s)
		if err != nil {
			return usageError{fmt.Errorf("--threshold: %w", err)}
		}
		o.checks = append(o.checks, t)
	}
	return nil
}

// write prints the summary, writes the files and checks the thresholds.
func (o *outputs) write(r *loadgen.Report, stdout io.Writer) error {
	if err := loadgen.TextReporter(r)(stdout); err != nil {
		return err
	}
	files := []struct {
		path string
		rep  loadgen.Reporter
	}{
		{o.out, loadgen.JSONReporter(r)},
		{o.hgrm, loadgen.HgrmReporter(r, "")},
		{o.html, loadgen.HTMLReporter(r)},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if err := writeFile(f.path, f.rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", f.path)
	}
	crossed := loadgen.Check(r, o.checks...)
	for _, c := range crossed {
		fmt.Fprintf(stdout, "THRESHOLD CROSSED: %s\n", c)
	}
	if len(crossed) > 0 {
		return errThresholds
	}
	return nil
}

func writeFile(path string, rep loadgen.Reporter) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// configure reads the flags of a run into its configuration, its outputs
// and the progress mode (on or off); errHelp after --help.
func configure(args []string, stderr io.Writer) (cfg loadgen.Config, o outputs, progress string, err error) {
	var (
		outages  []string
		windows  []string
		shard    string
		slowDown string
		verbose  bool
	)
	fs := pflag.NewFlagSet("loadgen", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringArrayVar(&cfg.URLs, "url", nil, "Registration Server base URL (repeatable); none: the embedded simulated cluster")
	fs.StringArrayVar(&cfg.BackupURLs, "backup-url", nil, "backup-tier URL (repeatable)")
	fs.IntVar(&cfg.Instances, "instances", loadgen.DefaultInstances, "instances of the embedded cluster")
	fs.IntVar(&cfg.Clients, "clients", loadgen.DefaultClients, "simulated clients in the whole fleet (all shards)")
	fs.DurationVar(&cfg.RampUp, "ramp-up", loadgen.DefaultRampUp, "start the clients evenly over this time")
	fs.DurationVar(&cfg.Duration, "duration", loadgen.DefaultDuration, "length of the run, ramp-up included")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", loadgen.DefaultPollInterval, "the clients' poll interval (the server's <pollinterval> is a floor)")
	fs.Float64Var(&cfg.PollJitter, "poll-jitter", client.DefaultPollJitter, "± share of jitter on each poll wait, in [0,1]")
	fs.Float64Var(&cfg.InviteRate, "invite-rate", loadgen.DefaultInviteRate, "invitations per client per minute (closed model)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open model: total invitations per second, measured from intended send times (0 = off)")
	fs.DurationVar(&cfg.Timeout, "timeout", client.DefaultAttemptTimeout, "per-attempt timeout of the clients")
	fs.DurationVar(&cfg.RecoverySpread, "recovery-spread", client.DefaultRecoverySpread, "window within which a client that finds the server again polls and drains its outbox")
	fs.DurationVar(&cfg.PollMaxInterval, "poll-max-interval", client.DefaultPollMaxInterval, "cap of the poll loop's backoff while the server is unreachable (at least --poll-interval)")
	fs.Float64Var(&cfg.DrainRate, "drain-rate", client.DefaultDrainRate, "outbox items a client sends per second at most")
	fs.StringVar(&slowDown, "slowdown", "", "embedded cluster: after each outage ask for polls INTERVAL apart for DURATION (INTERVAL:DURATION, e.g. 60s:2m)")
	fs.StringVar(&cfg.Salt, "salt", "", "API checksum salt")
	fs.StringVar(&cfg.UserPrefix, "user-prefix", loadgen.DefaultUserPrefix, "seeded users are PREFIX0 … PREFIX(clients-1)")
	fs.StringVar(&cfg.Password, "password", loadgen.DefaultPassword, "password of the seeded users")
	fs.BoolVar(&cfg.ConnPerClient, "conn-per-client", false, "give each client its own connection pool, as real desktops have (default: one shared pool)")
	fs.StringVar(&cfg.OutboxDir, "outbox-dir", "", "give each client the durable SQLite outbox of a desktop, in a run directory created here and removed at the end (default: in memory)")
	fs.StringArrayVar(&outages, "outage", nil, "fault window of the embedded cluster: [instances=I,J:]MODE:DUR@AT, MODE one of down, unavailable, hang, reset, dbdown (repeatable)")
	fs.StringArrayVar(&windows, "outage-window", nil, "declared outage window of an external cluster (--url): START+DURATION from the run's start, e.g. 20s+15s (repeatable); outages are also detected from the clients' state")
	fs.BoolVar(&cfg.Naive, "naive", false, "switch the clients' jitter and recovery spread off, to show the herd they prevent")
	fs.StringVar(&shard, "shard", "", "run shard i/n of the fleet (clients with index % n == i)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the run's random choices (0: random)")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", loadgen.DefaultDrainTimeout, "bound of the end phase that waits for queued invitations to arrive (left to its default: at least one effective poll interval)")
	fs.StringVar(&progress, "progress", "auto", "live progress line on stderr: auto (when a terminal), on, off")
	fs.BoolVar(&verbose, "verbose", false, "log the run's events to stderr")
	o.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return cfg, o, "", errHelp
		}
		return cfg, o, progress, usageError{err}
	}
	// Zero means "the default" in loadgen.Config; on the command line it is
	// a mistake for these.
	for _, name := range []string{"clients", "duration", "poll-interval", "timeout", "instances"} {
		if fs.Changed(name) && isZero(fs.Lookup(name).Value.String()) {
			return cfg, o, progress, usageError{fmt.Errorf("--%s must be positive", name)}
		}
	}
	// In loadgen.Config zero means "the default"; on the command line an
	// explicit zero means none.
	if fs.Changed("invite-rate") && cfg.InviteRate == 0 {
		cfg.InviteRate = -1
	}
	switch {
	case !fs.Changed("drain-timeout"):
		// The default: stretched to one effective poll interval.
		cfg.DrainTimeout = 0
	case cfg.DrainTimeout == 0:
		cfg.DrainTimeout = time.Nanosecond
	}
	if fs.Changed("poll-jitter") && cfg.PollJitter == 0 {
		return cfg, o, progress, usageError{errors.New("--poll-jitter 0: the SDK has no jitter-free poll loop of its own; use --naive to switch every jitter off")}
	}
	if fs.NArg() > 0 {
		return cfg, o, progress, usageError{fmt.Errorf("unexpected argument %q (flags only; did you mean 'loadgen merge'?)", fs.Arg(0))}
	}
	for _, s := range outages {
		out, err := loadgen.ParseOutage(s)
		if err != nil {
			return cfg, o, progress, usageError{fmt.Errorf("--outage: %w", err)}
		}
		cfg.Outages = append(cfg.Outages, out)
	}
	for _, s := range windows {
		w, err := loadgen.ParseWindow(s)
		if err != nil {
			return cfg, o, progress, usageError{fmt.Errorf("--outage-window: %w", err)}
		}
		cfg.OutageWindows = append(cfg.OutageWindows, w)
	}
	if slowDown != "" {
		sd, err := loadgen.ParseSlowDown(slowDown)
		if err != nil {
			return cfg, o, progress, usageError{fmt.Errorf("--slowdown: %w", err)}
		}
		cfg.SlowDown = sd
	}
	if fs.Changed("poll-interval") && !fs.Changed("poll-max-interval") {
		// The backoff cap gives way to a longer poll interval, as in the SDK.
		cfg.PollMaxInterval = max(cfg.PollMaxInterval, cfg.PollInterval)
	}
	cfg.CommandLine = commandLine(args)
	if shard != "" {
		s, err := loadgen.ParseShard(shard)
		if err != nil {
			return cfg, o, progress, usageError{fmt.Errorf("--shard: %w", err)}
		}
		cfg.Shard = s
	}
	if err := o.parse(); err != nil {
		return cfg, o, progress, err
	}
	switch progress {
	case "on":
	case "off":
	case "auto":
		if !isTerminal(stderr) {
			progress = "off"
		}
	default:
		return cfg, o, progress, usageError{fmt.Errorf("--progress %q: want auto, on or off", progress)}
	}
	// The first time the generator holds its cores over the saturation
	// share, say so at once, progress line or not: the figures from then
	// on may be its own delays (Locust warns the same way).
	warned := false
	cfg.Progress = func(l loadgen.Live) {
		if progress != "off" {
			fmt.Fprintf(stderr, "\r\033[K%s", l)
		}
		if !warned && l.CPUShare >= loadgen.SaturationCPUShare {
			warned = true
			if progress != "off" {
				fmt.Fprintln(stderr)
			}
			fmt.Fprintf(stderr, "loadgen: WARNING: at %s the generator used %.0f%% of its cores over the last %s: latencies from now on may be its own delays\n",
				l.Elapsed.Truncate(time.Second), 100*l.CPUShare, loadgen.SaturationWindow)
		}
	}
	if verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	if err := loadgen.CheckConfig(cfg); err != nil {
		return cfg, o, progress, usageError{err}
	}

	return cfg, o, progress, nil
}

// run is the whole program: flags in, report out.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "tune" {
		return runTune(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "merge" {
		return runMerge(args[1:], stdout, stderr)
	}
	cfg, o, progress, err := configure(args, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	// The first Ctrl-C ends the run early and still prints the report; a
	// second one, with the default handler back, ends the program.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := context.AfterFunc(ctx, func() { signal.Reset(os.Interrupt, syscall.SIGTERM) })
	defer stopped()

	r, err := loadgen.Run(runCtx, cfg)
	if progress != "off" {
		fmt.Fprintln(stderr)
	}
	if errors.Is(err, loadgen.ErrNoClientStarted) && r != nil {
		// The report says why; the run measured nothing of the service.
		if werr := o.write(r, stdout); werr != nil && !errors.Is(werr, errThresholds) {
			return werr
		}
		return err
	}
	if err != nil {
		if errors.Is(err, loadgen.ErrConfig) {
			return usageError{err}
		}
		return err
	}
	return o.write(r, stdout)
}

// runMerge combines shard reports into one.
func runMerge(args []string, stdout, stderr io.Writer) error {
	var o outputs
	fs := pflag.NewFlagSet("loadgen merge", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	o.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("merge: name the shard reports (JSON files written with --out)")}
	}
	if err := o.parse(); err != nil {
		return err
	}
	var reports []*loadgen.Report
	for _, path := range fs.Args() {
		f, err := os.Open(path)
		if err != nil {
			return usageError{fmt.Errorf("merge: %w", err)}
		}
		r, err := loadgen.ReadReport(f)
		f.Close()
		if err != nil {
			return usageError{fmt.Errorf("merge: %s: %w", path, err)}
		}
		r.Source = path
		reports = append(reports, r)
	}
	merged, err := loadgen.Merge(reports...)
	if err != nil {
		return usageError{fmt.Errorf("merge: %w", err)}
	}
	return o.write(merged, stdout)
}

// isZero reports whether a flag's printed value is zero ("0", "0s").
func isZero(v string) bool { return v == "0" || v == "0s" }

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// secretFlags take values that never go into a report.
var secretFlags = map[string]bool{"--password": true, "--salt": true}

// commandLine is the command as run, for the report: the values of
// --password and --salt, and passwords in URLs, redacted.
func commandLine(args []string) []string {
	out := []string{"loadgen"}
	redactNext := false
	for _, a := range args {
		switch name, _, hasValue := strings.Cut(a, "="); {
		case redactNext:
			a, redactNext = "REDACTED", false
		case secretFlags[name] && hasValue:
			a = name + "=REDACTED"
		case secretFlags[name]:
			redactNext = true
		default:
			if u, err := url.Parse(a); err == nil && u.User != nil {
				a = u.Redacted()
			} else if name, v, ok := strings.Cut(a, "="); ok {
				if u, err := url.Parse(v); err == nil && u.User != nil {
					a = name + "=" + u.Redacted()
				}
			}
		}
		out = append(out, a)
	}
	return out
}
