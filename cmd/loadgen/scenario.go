package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/loadgen"
	"github.com/spf13/pflag"
)

// scenarioFlags are the flags of the scenario a run and every run of a
// sweep share: the cluster, the fleet, its load, its outages and the
// clients' settings that tune does not sweep. One definition, so that
// `loadgen` and `loadgen tune` read them alike.
type scenarioFlags struct {
	cfg              *loadgen.Config
	outages, windows []string
}

// addScenarioFlags adds the scenario's flags to fs, bound to cfg.
func addScenarioFlags(fs *pflag.FlagSet, cfg *loadgen.Config) *scenarioFlags {
	s := &scenarioFlags{cfg: cfg}
	fs.StringArrayVar(&cfg.URLs, "url", nil, "Registration Server base URL (repeatable); none: the embedded simulated cluster")
	fs.IntVar(&cfg.Instances, "instances", loadgen.DefaultInstances, "instances of the embedded cluster")
	fs.IntVar(&cfg.Clients, "clients", loadgen.DefaultClients, "simulated clients in the whole fleet (all shards)")
	fs.DurationVar(&cfg.RampUp, "ramp-up", loadgen.DefaultRampUp, "start the clients evenly over this time (0: all at once)")
	fs.DurationVar(&cfg.Duration, "duration", loadgen.DefaultDuration, "length of a run, ramp-up included")
	fs.Float64Var(&cfg.PollJitter, "poll-jitter", client.DefaultPollJitter, "± share of jitter on each poll wait, in (0,1]")
	fs.Float64Var(&cfg.InviteRate, "invite-rate", loadgen.DefaultInviteRate, "invitations per client per minute (closed model; 0: none)")
	fs.DurationVar(&cfg.Timeout, "timeout", client.DefaultAttemptTimeout, "per-attempt timeout of the clients")
	fs.StringVar(&cfg.Salt, "salt", "", "API checksum salt")
	fs.StringVar(&cfg.UserPrefix, "user-prefix", loadgen.DefaultUserPrefix, "seeded users are PREFIX0 … PREFIX(clients-1)")
	fs.StringVar(&cfg.Password, "password", loadgen.DefaultPassword, "password of the seeded users")
	fs.BoolVar(&cfg.ConnPerClient, "conn-per-client", false, "give each client its own connection pool, as real desktops have (default: one shared pool)")
	fs.StringVar(&cfg.Transport, "transport", loadgen.DefaultTransport, "the clients' HTTP transport: lean (request and reply on the client's goroutine, no goroutine or buffer per idle connection; no proxies) or net/http (to compare, or behind a proxy)")
	fs.StringArrayVar(&s.outages, "outage", nil, "fault window of the embedded cluster: [instances=I,J:]MODE:DUR@AT, MODE one of down, unavailable, hang, reset, dbdown (repeatable)")
	fs.StringArrayVar(&s.windows, "outage-window", nil, "declared outage window of an external cluster (--url): START+DURATION from the run's start, e.g. 20s+15s (repeatable); outages are also detected from the clients' state")
	fs.BoolVar(&cfg.Naive, "naive", false, "switch the clients' jitter and recovery spread off, to show the herd they prevent")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", loadgen.DefaultDrainTimeout, "bound of the end phase that waits for queued invitations to arrive (left to its default: at least one effective poll interval)")
	fs.DurationVar(&cfg.TimerSlack, "timer-slack", 0, "Linux: let the kernel fire the generator's timers up to this late, so that one wake-up serves several: less CPU per request, at the cost of this much schedule lag, which counts in the latencies from due (0: the system's, 50µs)")
	return s
}

// maxTimerSlack bounds --timer-slack: past it the wake-ups it saves are
// few, and the lag it adds is the schedule lag target of a run.
const maxTimerSlack = 10 * time.Millisecond

// setTimerSlack gives the process the timer slack cfg asks for (it may
// execute the program again to do so, see applyTimerSlack), and sets
// cfg.TimerSlack to the slack the run has, for the report: the one asked
// for, or one the process inherited above the system's 50µs; 0 otherwise.
// A slack that cannot be set is a warning on stderr, not a failure.
func setTimerSlack(cfg *loadgen.Config, stderr io.Writer) {
	if cfg.TimerSlack > 0 {
		if err := applyTimerSlack(cfg.TimerSlack); err != nil {
			fmt.Fprintf(stderr, "loadgen: warning: %v; the run keeps the system's timer slack\n", err)
		}
	}
	cfg.TimerSlack = 0
	if cur, err := timerSlack(); err == nil && cur > 50*time.Microsecond {
		cfg.TimerSlack = cur
	}
}

// apply checks the scenario's flags after fs parsed them and turns what
// a zero means on the command line into what it means in loadgen.Config,
// where zero is "the default".
func (s *scenarioFlags) apply(fs *pflag.FlagSet) error {
	cfg := s.cfg
	for _, name := range []string{"clients", "duration", "timeout", "instances"} {
		if fs.Changed(name) && isZero(fs.Lookup(name).Value.String()) {
			return usageError{fmt.Errorf("--%s must be positive", name)}
		}
	}
	if fs.Changed("poll-jitter") && cfg.PollJitter == 0 {
		return usageError{errors.New("--poll-jitter 0: the SDK has no jitter-free poll loop of its own; use --naive to switch every jitter off")}
	}
	if fs.Changed("invite-rate") && cfg.InviteRate == 0 {
		cfg.InviteRate = -1 // none
	}
	if fs.Changed("ramp-up") && cfg.RampUp == 0 {
		cfg.RampUp = time.Nanosecond // every client at once
	}
	switch {
	case !fs.Changed("drain-timeout"):
		// The default: stretched to one effective poll interval.
		cfg.DrainTimeout = 0
	case cfg.DrainTimeout == 0:
		cfg.DrainTimeout = time.Nanosecond
	}
	switch {
	case cfg.TimerSlack < 0 || cfg.TimerSlack > maxTimerSlack:
		return usageError{fmt.Errorf("--timer-slack %s: want a duration in [0, %s]", cfg.TimerSlack, maxTimerSlack)}
	case cfg.TimerSlack > 0 && !timerSlackSupported:
		return usageError{errors.New("--timer-slack: the timer slack of a process can be set on Linux only")}
	}
	for _, v := range s.outages {
		o, err := loadgen.ParseOutage(v)
		if err != nil {
			return usageError{fmt.Errorf("--outage: %w", err)}
		}
		cfg.Outages = append(cfg.Outages, o)
	}
	for _, v := range s.windows {
		w, err := loadgen.ParseWindow(v)
		if err != nil {
			return usageError{fmt.Errorf("--outage-window: %w", err)}
		}
		cfg.OutageWindows = append(cfg.OutageWindows, w)
	}
	return nil
}
