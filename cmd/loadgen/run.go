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
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/loadgen"
	"github.com/spf13/pflag"
)

// runOptions are the flags of a run that are not loadgen.Config fields
// themselves.
type runOptions struct {
	cfg      loadgen.Config
	out      outputs
	scenario *scenarioFlags
	shard    string
	slowDown string
	verbose  bool
	progress string
}

// runFlags adds the flags of a run to fs, bound to the options returned.
func runFlags(fs *pflag.FlagSet) *runOptions {
	o := new(runOptions)
	cfg := &o.cfg
	o.scenario = addScenarioFlags(fs, cfg)
	fs.StringArrayVar(&cfg.BackupURLs, "backup-url", nil, "backup-tier URL (repeatable)")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", loadgen.DefaultPollInterval, "the clients' poll interval (the server's <pollinterval> is a floor)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open model: total invitations per second, measured from intended send times (0 = off)")
	fs.DurationVar(&cfg.RecoverySpread, "recovery-spread", client.DefaultRecoverySpread, "window within which a client that finds the server again polls and drains its outbox")
	fs.DurationVar(&cfg.PollMaxInterval, "poll-max-interval", client.DefaultPollMaxInterval, "cap of the poll loop's backoff while the server is unreachable (at least --poll-interval)")
	fs.Float64Var(&cfg.DrainRate, "drain-rate", client.DefaultDrainRate, "outbox items a client sends per second at most")
	fs.StringVar(&o.slowDown, "slowdown", "", "embedded cluster: after each outage ask for polls INTERVAL apart for DURATION (INTERVAL:DURATION, e.g. 60s:2m)")
	fs.StringVar(&cfg.OutboxDir, "outbox-dir", "", "give each client the durable SQLite outbox of a desktop, in a run directory created here and removed at the end (default: in memory)")
	fs.StringVar(&o.shard, "shard", "", "run shard i/n of the fleet (clients with index % n == i)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the run's random choices (0: random)")
	fs.StringVar(&o.progress, "progress", "auto", "progress on stderr: auto (a live line on a terminal, else a plain line every 10 s), on (the live line), plain, off")
	fs.BoolVar(&o.verbose, "verbose", false, "log the run's events to stderr")
	o.out.flags(fs, true)
	fs.StringVar(&o.out.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (go tool pprof) to this file")
	return o
}

// configure reads the flags of a run into its configuration, its outputs
// and its progress display; errDone after --help or --version, printed to
// stdout. Everything that can be checked before the run is: the flags, the
// configuration, the thresholds' names and that the output files can be
// written.
func configure(args []string, stdout, stderr io.Writer) (cfg loadgen.Config, o outputs, p *progress, err error) {
	fs := newFlagSet("run")
	opt := runFlags(fs)
	if err := parse(fs, "run", args, stdout); err != nil {
		return cfg, o, nil, err
	}
	if err := opt.scenario.apply(fs); err != nil { // on opt.cfg
		return cfg, o, nil, err
	}
	cfg, o = opt.cfg, opt.out
	// Zero means "the default" in loadgen.Config; on the command line it is
	// a mistake for these.
	if fs.Changed("recovery-spread") && cfg.RecoverySpread == 0 {
		return cfg, o, nil, usageError{errors.New("--recovery-spread 0: the SDK has no spread-free recovery of its own; use --naive to switch the spread and every jitter off")}
	}
	if fs.Changed("drain-rate") && cfg.DrainRate == 0 {
		return cfg, o, nil, usageError{errors.New("--drain-rate 0 would never deliver the outbox: give items per second, e.g. 5")}
	}
	for _, name := range []string{"poll-interval", "poll-max-interval"} {
		if fs.Changed(name) && isZero(fs.Lookup(name).Value.String()) {
			return cfg, o, nil, usageError{fmt.Errorf("--%s must be positive", name)}
		}
	}
	if fs.NArg() > 0 {
		return cfg, o, nil, usageError{fmt.Errorf("unexpected argument %q (flags only; the commands are %s)", fs.Arg(0), commandNames())}
	}
	if opt.slowDown != "" {
		sd, err := loadgen.ParseSlowDown(opt.slowDown)
		if err != nil {
			return cfg, o, nil, usageError{fmt.Errorf("--slowdown: %w", err)}
		}
		cfg.SlowDown = sd
	}
	if fs.Changed("poll-interval") && !fs.Changed("poll-max-interval") {
		// The backoff cap gives way to a longer poll interval, as in the SDK.
		cfg.PollMaxInterval = max(cfg.PollMaxInterval, cfg.PollInterval)
	}
	cfg.CommandLine = commandLine(args)
	if opt.shard != "" {
		s, err := loadgen.ParseShard(opt.shard)
		if err != nil {
			return cfg, o, nil, usageError{fmt.Errorf("--shard: %w", err)}
		}
		cfg.Shard = s
	}
	mode := opt.progress
	switch mode {
	case progressLive, progressPlain, progressOff:
	case "auto":
		mode = progressPlain
		if isTerminal(stderr) {
			mode = progressLive
		}
	default:
		return cfg, o, nil, usageError{fmt.Errorf("--progress %q: want auto, on, plain or off", mode)}
	}
	p = newProgress(stderr, mode)
	cfg.Progress = p.update
	if opt.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	if err := loadgen.CheckConfig(cfg); err != nil {
		return cfg, o, nil, usageError{flagError(err)}
	}
	if err := o.parse(nil); err != nil {
		return cfg, o, nil, err
	}
	return cfg, o, p, nil
}

// runLoad runs the load and reports it.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, o, p, err := configure(args, stdout, stderr)
	if err != nil {
		return err
	}
	setTimerSlack(&cfg, stderr) // may execute the program again, with the same arguments

	// The first Ctrl-C ends the run early and still prints the report; a
	// second one, with the default handler back, ends the program.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := context.AfterFunc(ctx, func() { signal.Reset(os.Interrupt, syscall.SIGTERM) })
	defer stopped()

	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	r, err := loadgen.Run(runCtx, cfg)
	if perr := stopProfile(); perr != nil && err == nil {
		err = perr
	}
	p.done()
	if errors.Is(err, loadgen.ErrNoClientStarted) && r != nil {
		// The report says why; the run measured nothing of the service.
		if werr := o.write(r, stdout); werr != nil && !errors.Is(werr, errThresholds) {
			return werr
		}
		return err
	}
	if err != nil {
		if errors.Is(err, loadgen.ErrConfig) {
			return usageError{flagError(err)}
		}
		return err
	}
	return o.write(r, stdout)
}

// startCPUProfile starts a CPU profile written to path (--cpuprofile) and
// returns the function that stops it and closes the file; with no path,
// a no-op.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}, nil
}

// Progress displays (--progress).
const (
	progressLive  = "on"    // one line, rewritten in place each second (a terminal)
	progressPlain = "plain" // a line every plainEvery and at each new phase (a log)
	progressOff   = "off"   // none; the saturation warning still
)

// plainEvery is the interval of the plain progress lines.
const plainEvery = 10 * time.Second

// progress displays a run's progress on w, from the loadgen.Live figures
// the engine passes update once a second, and warns once when the
// generator is saturated, whatever the display. Its methods are called
// from one goroutine at a time (the engine's sampler, then the caller
// after the run).
type progress struct {
	w      io.Writer
	mode   string
	onLine bool          // a live line is on screen, without its newline
	phase  string        // of the last plain line
	next   time.Duration // elapsed time of the next plain line
	warned bool
}

func newProgress(w io.Writer, mode string) *progress { return &progress{w: w, mode: mode} }

func (p *progress) update(l loadgen.Live) {
	switch p.mode {
	case progressLive:
		fmt.Fprintf(p.w, "\r\033[K%s", l)
		p.onLine = true
	case progressPlain:
		if l.Elapsed >= p.next || l.Phase != p.phase {
			fmt.Fprintf(p.w, "loadgen: %s\n", l)
			p.phase = l.Phase
			p.next = l.Elapsed.Truncate(plainEvery) + plainEvery
		}
	}
	// The first time the generator holds its cores over the saturation
	// share, say so at once, progress line or not: the figures from then
	// on may be its own delays (Locust warns the same way).
	if !p.warned && l.CPUShare >= loadgen.SaturationCPUShare {
		p.warned = true
		p.done()
		fmt.Fprintf(p.w, "loadgen: WARNING: at %s the generator used %.0f%% of its cores over the last %s: latencies from now on may be its own delays\n",
			l.Elapsed.Truncate(time.Second), 100*l.CPUShare, loadgen.SaturationWindow)
	}
}

// done ends the live line, if one is on screen.
func (p *progress) done() {
	if p.onLine {
		fmt.Fprintln(p.w)
		p.onLine = false
	}
}

// configFlags names the flag that sets each loadgen.Config field a
// configuration error can name.
var configFlags = map[string]string{
	"URLs":            "url",
	"BackupURLs":      "backup-url",
	"Instances":       "instances",
	"Clients":         "clients",
	"RampUp":          "ramp-up",
	"Duration":        "duration",
	"PollInterval":    "poll-interval",
	"PollJitter":      "poll-jitter",
	"InviteRate":      "invite-rate",
	"Rate":            "rate",
	"Timeout":         "timeout",
	"Salt":            "salt",
	"UserPrefix":      "user-prefix",
	"Password":        "password",
	"ConnPerClient":   "conn-per-client",
	"Transport":       "transport",
	"OutboxDir":       "outbox-dir",
	"Outages":         "outage",
	"OutageWindows":   "outage-window",
	"Naive":           "naive",
	"Shard":           "shard",
	"Seed":            "seed",
	"DrainTimeout":    "drain-timeout",
	"RecoverySpread":  "recovery-spread",
	"PollMaxInterval": "poll-max-interval",
	"DrainRate":       "drain-rate",
	"SlowDown":        "slowdown",
}

// flagError is err with the Config fields of a *loadgen.ConfigError named
// by their flags ("--ramp-up 1m0s is longer than --duration 1s"); other
// errors unchanged.
func flagError(err error) error {
	var ce *loadgen.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	renamed := ce.Message(func(field string) string {
		if f, ok := configFlags[field]; ok {
			return "--" + f
		}
		return ""
	})
	// Keep what wraps the ConfigError ("combination (poll 10s …): ").
	return errors.New(strings.Replace(err.Error(), ce.Error(), renamed, 1))
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
