package loadgen

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/regsim"
)

// Defaults of Config. cmd/loadgen uses them as flag defaults.
const (
	DefaultClients      = 100
	DefaultRampUp       = 10 * time.Second
	DefaultDuration     = 60 * time.Second
	DefaultInviteRate   = 2.0 // per client per minute
	DefaultUserPrefix   = "user"
	DefaultPassword     = regsim.DefaultPassword
	DefaultInstances    = 3
	DefaultDrainTimeout = 2 * time.Minute
	// DefaultPollInterval is the poll interval of the simulated clients;
	// the embedded cluster asks for the same.
	DefaultPollInterval = 10 * time.Second
	// DefaultTransport is the clients' HTTP transport.
	DefaultTransport = TransportLean
)

// Transports of Config.Transport.
const (
	// TransportLean is the lean HTTP/1.1 transport (internal/h1): request
	// and reply on the client's goroutine, no goroutine and no buffer per
	// idle connection. It does not use proxies.
	TransportLean = "lean"
	// TransportNetHTTP is net/http's Transport, the SDK's default for
	// applications: for comparison, and for a cluster behind a proxy
	// (HTTPS_PROXY, HTTP_PROXY).
	TransportNetHTTP = "net/http"
)

// Config configures a run. The zero value of a field means its Default…
// constant, except where the field says otherwise.
type Config struct {
	// URLs are the Registration Server URLs under test. Empty: start the
	// embedded simulated cluster of Instances instances in-process.
	URLs []string
	// BackupURLs are the clients' backup tier.
	BackupURLs []string
	// Instances is the size of the embedded cluster.
	Instances int
	// Clients is the number of simulated clients of the whole fleet (all
	// shards); each logs in as UserPrefix+index.
	Clients int
	// RampUp spreads the clients' starts evenly over this time.
	RampUp time.Duration
	// Duration is the length of the measured run, ramp-up included. A
	// bounded drain phase follows (DrainTimeout).
	Duration time.Duration
	// PollInterval and PollJitter configure the clients' poll loops (0:
	// the client's defaults for the jitter).
	PollInterval time.Duration
	PollJitter   float64
	// InviteRate is the invitations each client sends per minute (closed
	// model; Poisson arrivals). Negative: none.
	InviteRate float64
	// Rate, when positive, switches to the open model: invitations arrive
	// at this total rate per second, each handed to a random client, and
	// are measured from their intended send time.
	Rate float64
	// Timeout bounds one attempt of the clients (client.Config.AttemptTimeout).
	Timeout time.Duration
	// Salt is the API checksum salt.
	Salt string
	// UserPrefix and Password name the seeded users.
	UserPrefix string
	Password   string
	// ConnPerClient gives each client its own connection pool, as real
	// desktops have; otherwise the fleet shares one transport.
	ConnPerClient bool
	// Transport is the clients' HTTP transport when they reach the cluster
	// over TCP (the embedded cluster's loopback listeners, or URLs):
	// TransportLean or TransportNetHTTP. "": DefaultTransport.
	Transport string
	// OutboxDir, when set, gives each client the durable SQLite outbox a
	// desktop keeps (sqlite.Open: WAL, an fsync per enqueue), in a
	// directory of the run created under OutboxDir and removed at the end
	// of the run. Empty: in-memory outboxes.
	OutboxDir string
	// Outages are the fault windows (embedded cluster only).
	Outages []Outage
	// OutageWindows declare when an external cluster (URLs) had outages
	// that loadgen did not switch, e.g. by hand; the report gives each the
	// figures of an embedded outage. Outages are also detected from the
	// fleet's own state (DetectOutages), declared or not.
	OutageWindows []Window
	// RecoverySpread, PollMaxInterval and DrainRate are the clients'
	// recovery settings (client.Config's fields of the same names; 0: the
	// client's defaults): the window within which a client that finds the
	// server again polls and drains, the cap of the poll loop's failure
	// backoff, and the outbox items sent per second at most.
	RecoverySpread  time.Duration
	PollMaxInterval time.Duration
	DrainRate       float64
	// SlowDown, when its Interval is set, makes the embedded cluster ask
	// for polls that far apart (its <pollinterval>) for SlowDown.For after
	// each outage ends: the server-directed slow-down of seed 001.
	SlowDown SlowDown
	// CommandLine is carried into the report (RunConfig.CommandLine); the
	// caller redacts secrets.
	CommandLine []string
	// TimerSlack is the process's timer slack as the caller set it (on
	// Linux, cmd/loadgen's --timer-slack), carried into the report; the
	// package does not change it.
	TimerSlack time.Duration
	// Naive switches the clients' jitter and recovery spread off, to show
	// the thundering herd they prevent.
	Naive bool
	// Shard says which clients this process runs.
	Shard Shard
	// Seed makes the run's random choices reproducible; 0 means random.
	Seed uint64
	// DrainTimeout bounds the end phase that waits for queued invitations
	// to be delivered and received.
	DrainTimeout time.Duration
	// Progress, when set, is called once per second with the live figures.
	Progress func(Live)
	// Logger receives the run's events; nil discards.
	Logger *slog.Logger

	// drainDefault is set by applyDefaults when DrainTimeout was left to
	// its default, which the run then stretches to an effective poll
	// interval.
	drainDefault bool
	// cpuSource, set by this package's tests, stands in for the process's
	// CPU time in runs on a memCluster (simulated time), where the real
	// one means nothing; nil there: not measured.
	cpuSource func() time.Duration

	// wrapTransport, set by this package's tests, wraps the memCluster's
	// transport to put real-world faults between the clients and it.
	wrapTransport func(http.RoundTripper) http.RoundTripper

	// memCluster, set by this package's tests, stands in for the embedded
	// cluster: a cluster with no sockets (regsim.NewCluster) that the
	// clients reach through its in-memory Transport, so that a whole run
	// can go under testing/synctest. The caller closes it.
	memCluster *regsim.Cluster
}

// ErrConfig is wrapped by every configuration error of Run (each a
// *ConfigError).
var ErrConfig = errors.New("loadgen: bad config")

// ConfigError is a configuration error of Run and CheckConfig: the Config
// field at fault and what is wrong with it. It wraps ErrConfig. Its message
// names Config fields (Field, and the others it compares with); Message
// names them otherwise, as a CLI names its flags.
type ConfigError struct {
	// Field is the Config field at fault, such as "RampUp".
	Field string

	format string // the message after the field's name
	args   []any  // of format; a configField names another field
}

// configField is an argument of a ConfigError's message that names a
// Config field.
type configField string

// Error returns the message with Config's field names, after ErrConfig's:
// "loadgen: bad config: RampUp 1m0s is longer than Duration 1s".
func (e *ConfigError) Error() string { return ErrConfig.Error() + ": " + e.Message(nil) }

// Unwrap returns ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// Message returns the message without ErrConfig's prefix, each Config
// field named by name(field), or by its own name when name is nil or
// returns "": with a CLI's flag names, "--ramp-up 1m0s is longer than
// --duration 1s".
func (e *ConfigError) Message(name func(field string) string) string {
	named := func(f string) string {
		if name != nil {
			if n := name(f); n != "" {
				return n
			}
		}
		return f
	}
	args := make([]any, len(e.args))
	for i, a := range e.args {
		if f, ok := a.(configField); ok {
			a = named(string(f))
		}
		args[i] = a
	}
	return named(e.Field) + fmt.Sprintf(e.format, args...)
}

func (c *Config) applyDefaults() {
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if c.RampUp == 0 {
		c.RampUp = DefaultRampUp
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Transport == "" {
		c.Transport = DefaultTransport
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.InviteRate == 0 {
		c.InviteRate = DefaultInviteRate
	}
	if c.Timeout == 0 {
		c.Timeout = client.DefaultAttemptTimeout
	}
	if c.UserPrefix == "" {
		c.UserPrefix = DefaultUserPrefix
	}
	if c.Password == "" {
		c.Password = DefaultPassword
	}
	if c.Instances == 0 {
		c.Instances = DefaultInstances
	}
	if c.memCluster != nil {
		c.Instances = c.memCluster.Len()
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
		c.drainDefault = true
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	// bad returns the error of field; format follows the field's name, and
	// its configField arguments name other fields.
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, format: format, args: args}
	}
	const (
		urls     = configField("URLs")
		duration = configField("Duration")
		outages  = configField("Outages")
	)
	switch {
	case c.Clients < 1:
		return bad("Clients", " %d: need at least 1", c.Clients)
	case c.Clients > 1_000_000:
		return bad("Clients", " %d: at most 1000000", c.Clients)
	case c.RampUp < 0:
		return bad("RampUp", " %s is negative", c.RampUp)
	case c.Duration <= 0:
		return bad("Duration", " %s must be positive", c.Duration)
	case c.RampUp > c.Duration:
		return bad("RampUp", " %s is longer than %s %s", c.RampUp, duration, c.Duration)
	case c.PollInterval < 0:
		return bad("PollInterval", " %s is negative", c.PollInterval)
	case c.PollJitter < 0 || c.PollJitter > 1 || math.IsNaN(c.PollJitter):
		return bad("PollJitter", " %v is outside [0, 1]", c.PollJitter)
	case math.IsNaN(c.InviteRate) || math.IsInf(c.InviteRate, 0):
		return bad("InviteRate", " %v is not a number", c.InviteRate)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return bad("Rate", " %v must be a finite number ≥ 0", c.Rate)
	case c.RecoverySpread < 0:
		return bad("RecoverySpread", " %s is negative", c.RecoverySpread)
	case c.PollMaxInterval < 0:
		return bad("PollMaxInterval", " %s is negative", c.PollMaxInterval)
	case c.PollMaxInterval > 0 && c.PollMaxInterval < c.PollInterval:
		return bad("PollMaxInterval", " %s is below %s %s", c.PollMaxInterval, configField("PollInterval"), c.PollInterval)
	case !(c.DrainRate >= 0) || c.DrainRate > 1e6:
		return bad("DrainRate", " %v: want items per second in [0, 1e6]", c.DrainRate)
	case c.SlowDown.Interval < 0 || c.SlowDown.For < 0 || (c.SlowDown.Interval > 0) != (c.SlowDown.For > 0):
		return bad("SlowDown", " %s: want a positive interval and a positive duration", c.SlowDown)
	case c.Timeout < 0:
		return bad("Timeout", " %s is negative", c.Timeout)
	case c.DrainTimeout < 0:
		return bad("DrainTimeout", " %s is negative", c.DrainTimeout)
	case c.Transport != TransportLean && c.Transport != TransportNetHTTP:
		return bad("Transport", " %q: want %q or %q", c.Transport, TransportLean, TransportNetHTTP)
	case c.Instances < 1 || c.Instances > 64:
		return bad("Instances", " %d: need 1 to 64", c.Instances)
	case c.Shard.Count > 0 && (c.Shard.Index < 0 || c.Shard.Index >= c.Shard.Count):
		return bad("Shard", " %d/%d: %v", c.Shard.Index, c.Shard.Count, ErrBadShard)
	}
	for _, list := range []struct {
		field string
		urls  []string
	}{{"URLs", c.URLs}, {"BackupURLs", c.BackupURLs}} {
		for _, raw := range list.urls {
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return bad(list.field, " %q is not an http(s) URL", raw)
			}
		}
	}
	if c.Transport == TransportLean {
		for _, raw := range slices.Concat(c.URLs, c.BackupURLs) {
			if proxied(raw) {
				return bad("Transport", " %q does not use proxies, and the environment (HTTPS_PROXY, HTTP_PROXY) sends %s through one: use %s %q, or set NO_PROXY",
					c.Transport, redactedURLs([]string{raw})[0], configField("Transport"), TransportNetHTTP)
			}
		}
	}
	if len(c.URLs) == 0 && c.UserPrefix != DefaultUserPrefix {
		return bad("UserPrefix", " %q: the embedded cluster seeds users named %s0…; another prefix needs %s", c.UserPrefix, DefaultUserPrefix, urls)
	}
	if len(c.URLs) == 0 && len(c.BackupURLs) > 0 {
		return bad("BackupURLs", " %q needs %s (the embedded cluster has no backup tier)", c.BackupURLs[0], urls)
	}
	if len(c.URLs) > 0 && len(c.Outages) > 0 {
		return bad("Outages", " %s needs the embedded cluster (no %s): regfleet cannot switch faults on a real cluster", c.Outages[0], urls)
	}
	if len(c.URLs) > 0 && c.SlowDown.Interval > 0 {
		return bad("SlowDown", " %s needs the embedded cluster (no %s): an external cluster sets its own <pollinterval>", c.SlowDown, urls)
	}
	if len(c.URLs) == 0 && len(c.OutageWindows) > 0 {
		return bad("OutageWindows", " %s declares an outage of an external cluster (%s); the embedded cluster switches its own with %s", c.OutageWindows[0], urls, outages)
	}
	for _, w := range c.OutageWindows {
		switch {
		case w.At < 0 || w.Duration <= 0:
			return bad("OutageWindows", " %s: the start must be 0 or later and the duration positive", w)
		case w.End() > c.Duration:
			return bad("OutageWindows", " %s ends at %s, after the run (%s %s)", w, w.End(), duration, c.Duration)
		}
	}
	for _, o := range c.Outages {
		if o.End() > c.Duration {
			return bad("Outages", " %s ends after the run (%s %s)", o, duration, c.Duration)
		}
		for _, i := range o.Instances {
			if i >= c.Instances {
				return bad("Outages", " %s names instance %d, but %s is %d (indexes from 0)", o, i, configField("Instances"), c.Instances)
			}
		}
	}
	return nil
}

// CheckConfig reports what Run would reject in cfg, without running.
func CheckConfig(cfg Config) error {
	cfg.applyDefaults()
	return cfg.validate()
}

// proxied reports whether net/http would reach raw through a proxy from
// the environment.
func proxied(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	p, err := http.ProxyFromEnvironment(&http.Request{URL: u})
	return err == nil && p != nil
}
