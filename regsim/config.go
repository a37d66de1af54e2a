package regsim

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// DefaultPassword is the password of every seeded user (user0 … user(N-1)).
const DefaultPassword = "regfleet"

// Defaults of Config, exported so that command-line tools can use them as
// flag defaults.
const (
	// DefaultPollInterval is the server's <pollinterval> unless configured.
	DefaultPollInterval = 30 * time.Second
	// DefaultStoragePeriod is how long an unacknowledged message is kept.
	DefaultStoragePeriod = 7 * 24 * time.Hour
	// DefaultSessionTTL is how long a session from loginuser is valid.
	DefaultSessionTTL = 24 * time.Hour
	// DefaultMaxMessages is how many messages getmessages returns when the
	// request's <max> is absent or 0.
	DefaultMaxMessages = 100
	// MaxInstances bounds Config.Instances.
	MaxInstances = 1024
	// RateBucket is the width of one bucket of Counters.RateSeries.
	RateBucket = 100 * time.Millisecond
)

// ErrClosed is returned by operations on a closed Cluster.
var ErrClosed = errors.New("regsim: cluster closed")

// ConfigError names the Config or StartOptions field that is invalid.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("regsim: invalid %s: %s", e.Field, e.Reason)
}

// Config describes a simulated cluster. The zero value is a valid one-instance
// cluster with no users, no salt and the default periods.
type Config struct {
	// Instances is the number of instances; 0 means 1.
	Instances int
	// Users seeds user0 … user(Users-1), each with Password, so that load
	// runs need no registration step.
	Users int
	// Password of the seeded users; "" means DefaultPassword.
	Password string
	// Salt, when set, makes every instance enforce ?checksum= (-30201).
	Salt string
	// PollInterval is the server's <pollinterval>; 0 means
	// DefaultPollInterval. It can be changed at runtime with
	// Cluster.SetPollInterval.
	PollInterval time.Duration
	// StoragePeriod is how long a message is kept for devices that have not
	// acknowledged it; 0 means DefaultStoragePeriod. Idempotency records of
	// applied requestids are kept as long.
	StoragePeriod time.Duration
	// SessionTTL is how long a session is valid after loginuser (an absolute
	// lifetime, not a sliding one); afterwards the session is answered with
	// -30400. 0 means DefaultSessionTTL.
	SessionTTL time.Duration
	// Now is the clock used for message and session expiry, message
	// timestamps and the request-rate series; nil means time.Now. Fault
	// delays (Latency, Jitter) use timers, not this clock.
	Now func() time.Time
	// Logger receives operational events (never passwords, sessions or
	// payloads); nil discards them.
	Logger *slog.Logger
}

// withDefaults validates cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	switch {
	case cfg.Instances < 0 || cfg.Instances > MaxInstances:
		return cfg, &ConfigError{"Instances", fmt.Sprintf("%d is not in [0, %d]", cfg.Instances, MaxInstances)}
	case cfg.Users < 0:
		return cfg, &ConfigError{"Users", "negative"}
	case cfg.PollInterval < 0:
		return cfg, &ConfigError{"PollInterval", "negative"}
	case cfg.StoragePeriod < 0:
		return cfg, &ConfigError{"StoragePeriod", "negative"}
	case cfg.SessionTTL < 0:
		return cfg, &ConfigError{"SessionTTL", "negative"}
	}
	if cfg.Instances == 0 {
		cfg.Instances = 1
	}
	if cfg.Password == "" {
		cfg.Password = DefaultPassword
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.StoragePeriod == 0 {
		cfg.StoragePeriod = DefaultStoragePeriod
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return cfg, nil
}

// StartOptions says where Start listens.
type StartOptions struct {
	// Addr is the address of the first instance, e.g. "127.0.0.1:18080";
	// further instances listen on the following ports. "" means
	// "127.0.0.1:0" for each instance (a free port each). A port of 0 gives
	// every instance a free port.
	Addr string
	// ControlAddr is the address of the control endpoint; "" means
	// "127.0.0.1:0", "-" means no control endpoint.
	ControlAddr string
	// AllowRemote permits non-loopback addresses. Without it Start refuses
	// to bind anything but a loopback address.
	AllowRemote bool
}
