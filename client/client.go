package client

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regfleet/regfleet/internal/scope"
	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/offline"
	"golang.org/x/time/rate"
)

// Defaults of Config. The CLIs reuse them as flag defaults.
const (
	// DefaultPollInterval is the wait between two polls when the server
	// asks for less.
	DefaultPollInterval = 30 * time.Second
	// DefaultPollJitter spreads each poll wait by ±20%.
	DefaultPollJitter = 0.2
	// DefaultPollMaxInterval caps the failure backoff of the poll loop.
	// While Red the poll is the recovery probe, so the cap is also about
	// how long the status light may stay red after the server is back:
	// two minutes, as gRPC caps its reconnection backoff, plus the poll's
	// jitter (up to PollJitter more: 2m24s by default). The wait grows with
	// the outage (half its length so far), so that cap is reached only
	// after four minutes of outage.
	DefaultPollMaxInterval = 2 * time.Minute
	// DefaultPollMaxMessages is the <max> of each getmessages.
	DefaultPollMaxMessages = 100
	// DefaultRecoverySpread is the window within which the outbox drain
	// starts, counted from the last failure, after Red turns Green (and
	// the next poll, after Green came through another call). 90 s: with
	// 10,000 clients polling every 30 s and a 60 s outage, the backlog of
	// queued invitations goes out within about 95 s of the recovery at
	// about half again the steady request rate (see the README's tuning
	// section); a shorter window raises that peak, a longer one delays
	// the last invitations.
	DefaultRecoverySpread = 90 * time.Second
	// DefaultAttemptTimeout bounds one attempt on one endpoint, reply
	// body included.
	DefaultAttemptTimeout = 10 * time.Second
	// DefaultRetryWaitMin is the base of the full-jitter backoff between
	// attempts of one call.
	DefaultRetryWaitMin = 50 * time.Millisecond
	// DefaultRetryWaitMax caps the backoff between attempts of one call.
	DefaultRetryWaitMax = 2 * time.Second
	// DefaultMaxRetryAfter caps a server's Retry-After: a desktop user
	// cannot wait minutes because one reply asked for it.
	DefaultMaxRetryAfter = time.Minute
	// DefaultHedgeDelay is how long an attempt waits for a reply before
	// the same request goes to another healthy endpoint too (a hedge).
	// Under a second, so that a host that accepts connections and never
	// answers costs a user well under a second while another endpoint
	// answers.
	DefaultHedgeDelay = 750 * time.Millisecond
	// DefaultRetryBudget is the share of calls that may be retried within
	// the budget window.
	DefaultRetryBudget = 0.2
	// DefaultRetryBudgetMin is the number of retries always allowed
	// within the window, whatever the share.
	DefaultRetryBudgetMin = 10
	// DefaultRetryBudgetWindow is the sliding window of the retry budget.
	DefaultRetryBudgetWindow = 10 * time.Second
	// DefaultFailureThreshold is the number of consecutive transient
	// failures that eject an endpoint.
	DefaultFailureThreshold = 3
	// DefaultEjectionTime is the first ejection time; it doubles on each
	// repeated ejection.
	DefaultEjectionTime = 5 * time.Second
	// DefaultMaxEjectionTime caps the ejection time.
	DefaultMaxEjectionTime = 2 * time.Minute
	// DefaultEjectionDecay is how long an endpoint must stay healthy for
	// its ejection time to step back down by one doubling.
	DefaultEjectionDecay = time.Minute
	// DefaultDrainRate is the number of outbox items sent per second at most.
	DefaultDrainRate = 5.0
	// DefaultItemTTL is how long a queued item stays worth delivering (the
	// server's invitation storage period).
	DefaultItemTTL = 7 * 24 * time.Hour
	// MaxEndpoints is the largest number of URLs and backup URLs together.
	MaxEndpoints = 64
)

// Config configures a Client. The zero value of every numeric field means
// its Default… constant; URLs is required. Config is copied by New; later
// changes have no effect.
type Config struct {
	// URLs are the published base URLs of the Registration Server (the
	// primary tier), e.g. "https://reg1.example.com" or
	// "https://example.com:8443/registration": scheme, host, optional port
	// (1 to 65535) and optional path prefix, without the API path
	// /pbas/td2as/api/api.htm, which the Client adds. Calls are spread
	// over them round robin. Only http and https are accepted; URLs may
	// not carry userinfo, a query or a fragment. Hosts are compared
	// without case and default ports (80, 443), so "https://a" and
	// "https://A:443/" are the same endpoint, given twice an error.
	URLs []string
	// BackupURLs form the backup tier: used only while no primary is
	// healthy (or a call has tried every primary).
	BackupURLs []string

	// Username and Password are used to log in, lazily and again when a
	// session expires (-30400). They are never logged. With a Password or
	// a Session, New logs a warning naming each plain http:// endpoint that
	// is not loopback (127.0.0.0/8, ::1, localhost): there they travel
	// unencrypted.
	Username string
	Password string
	// Session is an existing session to start with; optional.
	Session string
	// DeviceID is the device polled for messages; RegisterDevice sets it
	// when empty.
	DeviceID string
	// Salt, when set, adds ?checksum=md5(body+salt) to every call.
	Salt string

	// HTTPClient carries TLS, proxy and transport settings, and a cookie
	// Jar if wanted. nil, or one whose Transport is nil, means the Client's
	// own transport: a clone of http.DefaultTransport's settings (the proxy
	// from HTTP_PROXY, HTTPS_PROXY and NO_PROXY, HTTP/2 over TLS, the
	// system's CA pool with verification on), whose idle connections Close
	// closes, so that no connection goroutine outlives the Client. Clients
	// that should share connections (a load generator's) share one
	// supplied Transport.
	//
	// A supplied Transport is used as it is and never closed, not even its
	// idle connections: the application owns it. The Client uses a copy of
	// the http.Client that bounds each attempt by AttemptTimeout and never
	// follows a redirect (a 3xx reply fails the attempt as not from a
	// Registration Server), so New rejects a non-zero Timeout (bound one
	// attempt with AttemptTimeout, a whole call with its context) and a
	// non-nil CheckRedirect.
	HTTPClient *http.Client
	// Logger receives state transitions and failures, never bodies or
	// secrets. nil discards.
	Logger *slog.Logger
	// Outbox queues invitations, comments and Enqueue'd requests while the
	// server is unreachable. nil means an in-memory outbox owned (and
	// closed) by the Client.
	Outbox offline.Outbox

	// PollInterval is the wait between polls; the server's <pollinterval>
	// is a floor.
	PollInterval time.Duration
	// PollJitter spreads each wait by ±PollJitter (in [0, 1]; 0 means
	// DefaultPollJitter; see DisableJitter to switch it off).
	PollJitter float64
	// PollMaxInterval caps the poll loop's failure backoff. 0 means
	// DefaultPollMaxInterval, or PollInterval when that is longer. Set
	// alone below DefaultPollInterval, it is PollInterval's default too.
	PollMaxInterval time.Duration
	// PollMaxMessages is the <max> of each poll.
	PollMaxMessages int
	// RecoverySpread is the window of the random delay before the outbox
	// drain once Red turns Green, counted from the last call that failed
	// (so that a fleet's drains spread over it from about the server's
	// return, however late each client noticed), and before the next poll
	// when Green came through another call than a poll.
	RecoverySpread time.Duration
	// DisableJitter switches off every random timing spread: the ± poll
	// jitter, the random delay of the first poll, the ± jitter of the poll
	// failure backoff, the full jitter of retry backoff (it becomes plain
	// exponential), and the recovery spread. It exists to demonstrate the
	// thundering herd in tests and load experiments; never set it in an
	// application.
	DisableJitter bool

	// AttemptTimeout bounds one attempt, reply body included.
	AttemptTimeout time.Duration
	// MaxAttempts bounds the attempts of one call. 0 means one per
	// endpoint (primary and backup), at least 2.
	MaxAttempts int
	// RetryWaitMin and RetryWaitMax bound the full-jitter exponential
	// backoff between attempts. When only one is set, the other's default
	// gives way: RetryWaitMax 0 means the longer of DefaultRetryWaitMax and
	// RetryWaitMin; RetryWaitMin 0 the shorter of DefaultRetryWaitMin and
	// RetryWaitMax.
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration
	// MaxRetryAfter caps a server's Retry-After.
	MaxRetryAfter time.Duration
	// HedgeDelay is how long an attempt waits for a reply before the
	// same request is also sent to the next healthy endpoint; the first
	// reply wins and the other request is canceled. An endpoint that lost
	// a hedge counts a failure (FailureThreshold of them eject it). Every
	// mutating command carries a requestid the server de-duplicates, so a
	// hedge never applies a change twice. Hedges count against the retry
	// budget. 0 means DefaultHedgeDelay; a negative value switches
	// hedging off.
	HedgeDelay time.Duration
	// RetryBudget is the share of calls (in (0, 1]) that may be retried
	// within RetryBudgetWindow; RetryBudgetMin retries are always allowed.
	RetryBudget       float64
	RetryBudgetMin    int
	RetryBudgetWindow time.Duration

	// FailureThreshold consecutive transient failures eject an endpoint.
	FailureThreshold int
	// EjectionTime is the first ejection time; repeated ejections double
	// it up to MaxEjectionTime, with up to 25% jitter. Each EjectionDecay
	// of sustained health steps it back down by one doubling. When only
	// one of EjectionTime and MaxEjectionTime is set, the other's default
	// gives way to it, as with RetryWaitMin and RetryWaitMax.
	EjectionTime    time.Duration
	MaxEjectionTime time.Duration
	EjectionDecay   time.Duration

	// DrainRate limits outbox delivery to this many items per second. A
	// server that asks for polls k times further apart than PollInterval
	// (its <pollinterval>) slows the drain k times too (Client.DrainRate).
	DrainRate float64
	// ItemTTL is how long a queued item stays worth delivering.
	ItemTTL time.Duration

	// OnCall, when set, is called once after every call that went to the
	// network (the poll loop's and the outbox's included), on the goroutine
	// that made it. It must return quickly and must not call the Client.
	// Load generators and metrics use it; CallInfo carries no body, session
	// or password.
	OnCall func(CallInfo)

	// Seed seeds the client's random source (round robin start, jitter),
	// so that tests reproduce. 0 means a random seed.
	Seed uint64
}

// CallInfo describes one finished call for Config.OnCall.
type CallInfo struct {
	Command string    // the protocol command, e.g. "getmessages"
	Start   time.Time // when the call began
	// Due, for a call the client made on its own schedule (a poll of the
	// poll loop, a background health probe), is when it was due: a Start
	// later than Due is the client's own delay (a busy process), which a
	// load generator counts as schedule lag. It is set on the first call
	// of the action only (a login the poll needed first, else the
	// getmessages); zero for the calls after it (the ack) and for the
	// application's calls.
	Due      time.Time
	Duration time.Duration // until its outcome, retries and backoff included
	Attempts int           // requests put on the wire (0 when none was)
	Endpoint string        // redacted base URL of the last attempt, "" when none
	Err      error         // the call's error, nil on success
	// Messages is the count of messages in the reply (getmessages). A
	// reply with as many as the call asked for (GetMessages' max; the
	// poll loop's Config.PollMaxMessages) may have left more on the
	// server.
	Messages int
}

// config is the validated Config with defaults applied.
type config struct {
	Config
	primaries, backups []*url.URL
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: Config.%s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// parseBase parses and normalises one base URL: lower-case host, no
// default port, no trailing slash.
func parseBase(field string, i int, raw string) (*url.URL, error) {
	name := fmt.Sprintf("%s[%d]", field, i)
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, invalid(name, "empty: give a base URL such as %q", "https://reg.example.com")
	}
	u, err := url.Parse(raw)
	if !strings.Contains(raw, "://") &&
		(err != nil || u.Scheme == "" || strings.Contains(u.Scheme, ".") || strings.IndexAny(u.Opaque, "0123456789") == 0) {
		// "reg.example.com:443" parses as scheme "reg.example.com" with
		// opaque "443"; "127.0.0.1:8080" does not parse at all.
		return nil, invalid(name, "no scheme in %q: write %q", raw, "https://"+raw)
	}
	if err != nil {
		return nil, invalid(name, "%q is not a URL", raw)
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return nil, invalid(name, "scheme %q is not http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, invalid(name, "no host in %q", raw)
	}
	if u.User != nil {
		return nil, invalid(name, "userinfo is not allowed (use Username and Password)")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, invalid(name, "query and fragment are not allowed")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, invalid(name, "port %s in %q is outside 1..65535", port, raw)
		}
	}
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = "" // "https://a:443" is "https://a"
	}
	switch {
	case port != "":
		u.Host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		u.Host = "[" + host + "]"
	default:
		u.Host = host
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if p := u.Path; len(p) >= len(wire.APIPath) && strings.EqualFold(p[len(p)-len(wire.APIPath):], wire.APIPath) {
		base := *u
		base.Path = p[:len(p)-len(wire.APIPath)]
		return nil, invalid(name, "%q ends in the API path %s, which the Client adds: drop the API path, give the base URL %q", raw, wire.APIPath, base.String())
	}
	return u, nil
}

// loopbackHost reports whether host (without port or brackets) is
// localhost or a loopback address (127.0.0.0/8, ::1).
func loopbackHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c Config) validate() (*config, error) {
	cfg := &config{Config: c}
	if len(c.URLs) == 0 {
		return nil, invalid("URLs", "at least one URL is required")
	}
	if len(c.URLs)+len(c.BackupURLs) > MaxEndpoints {
		return nil, invalid("URLs", "more than %d endpoints", MaxEndpoints)
	}
	seen := make(map[string]string) // normalised URL → "URLs[0] (\"https://a:443\")"
	for _, tier := range []struct {
		field string
		raw   []string
		dst   *[]*url.URL
	}{{"URLs", c.URLs, &cfg.primaries}, {"BackupURLs", c.BackupURLs, &cfg.backups}} {
		for i, raw := range tier.raw {
			u, err := parseBase(tier.field, i, raw)
			if err != nil {
				return nil, err
			}
			key := u.String()
			if prev, dup := seen[key]; dup {
				return nil, invalid(fmt.Sprintf("%s[%d]", tier.field, i), "%q is the same endpoint as %s: remove one", strings.TrimSpace(raw), prev)
			}
			seen[key] = fmt.Sprintf("%s[%d] (%q)", tier.field, i, strings.TrimSpace(raw))
			*tier.dst = append(*tier.dst, u)
		}
	}
	if c.Password != "" && c.Username == "" {
		return nil, invalid("Username", "required with Password")
	}
	if hc := c.HTTPClient; hc != nil {
		if hc.Timeout != 0 {
			return nil, invalid("HTTPClient.Timeout", "%v is not used: set Config.AttemptTimeout to bound each attempt, and the call's context (context.WithTimeout) to bound a whole call", hc.Timeout)
		}
		if hc.CheckRedirect != nil {
			return nil, invalid("HTTPClient.CheckRedirect", "is not used: the Client never follows redirects (a Registration Server does not redirect; a 3xx reply fails the attempt); leave it nil")
		}
	}
	type durField struct {
		name string
		v    *time.Duration
		def  time.Duration
	}
	// Pairs of bounds. Of a pair the user set one: the other's default
	// gives way rather than make the one set invalid.
	type durPair struct{ lo, hi durField }
	pairs := []durPair{
		{durField{"PollInterval", &cfg.PollInterval, DefaultPollInterval}, durField{"PollMaxInterval", &cfg.PollMaxInterval, DefaultPollMaxInterval}},
		{durField{"RetryWaitMin", &cfg.RetryWaitMin, DefaultRetryWaitMin}, durField{"RetryWaitMax", &cfg.RetryWaitMax, DefaultRetryWaitMax}},
		{durField{"EjectionTime", &cfg.EjectionTime, DefaultEjectionTime}, durField{"MaxEjectionTime", &cfg.MaxEjectionTime, DefaultMaxEjectionTime}},
	}
	for _, p := range pairs {
		lo, hi := p.lo.v, p.hi.v
		if *hi == 0 && *lo > p.hi.def {
			*hi = *lo
		}
		if *lo == 0 && *hi > 0 && *hi < p.lo.def {
			*lo = *hi
		}
	}
	durs := []durField{
		{"RecoverySpread", &cfg.RecoverySpread, DefaultRecoverySpread},
		{"AttemptTimeout", &cfg.AttemptTimeout, DefaultAttemptTimeout},
		{"MaxRetryAfter", &cfg.MaxRetryAfter, DefaultMaxRetryAfter},
		{"RetryBudgetWindow", &cfg.RetryBudgetWindow, DefaultRetryBudgetWindow},
		{"EjectionDecay", &cfg.EjectionDecay, DefaultEjectionDecay},
		{"ItemTTL", &cfg.ItemTTL, DefaultItemTTL},
	}
	for _, p := range pairs {
		durs = append(durs, p.lo, p.hi)
	}
	for _, f := range durs {
		if *f.v < 0 {
			return nil, invalid(f.name, "negative duration %v", *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	switch {
	case cfg.HedgeDelay == 0:
		cfg.HedgeDelay = DefaultHedgeDelay
	case cfg.HedgeDelay < 0:
		cfg.HedgeDelay = 0 // off
	}
	for _, p := range pairs {
		if *p.hi.v < *p.lo.v {
			return nil, invalid(p.hi.name, "%v is below %s %v: raise %s or lower %s", *p.hi.v, p.lo.name, *p.lo.v, p.hi.name, p.lo.name)
		}
	}
	if !(cfg.PollJitter >= 0 && cfg.PollJitter <= 1) { // also rejects NaN
		return nil, invalid("PollJitter", "%v is outside [0, 1]", cfg.PollJitter)
	}
	if cfg.PollJitter == 0 {
		cfg.PollJitter = DefaultPollJitter
	}
	if !(cfg.RetryBudget >= 0 && cfg.RetryBudget <= 1) {
		return nil, invalid("RetryBudget", "%v is outside [0, 1]", cfg.RetryBudget)
	}
	if cfg.RetryBudget == 0 {
		cfg.RetryBudget = DefaultRetryBudget
	}
	if !(cfg.DrainRate >= 0) || cfg.DrainRate > 1e6 {
		return nil, invalid("DrainRate", "%v is not a rate in [0, 1e6]", cfg.DrainRate)
	}
	if cfg.DrainRate == 0 {
		cfg.DrainRate = DefaultDrainRate
	}
	type intField struct {
		name string
		v    *int
		def  int
	}
	for _, f := range []intField{
		{"PollMaxMessages", &cfg.PollMaxMessages, DefaultPollMaxMessages},
		{"RetryBudgetMin", &cfg.RetryBudgetMin, DefaultRetryBudgetMin},
		{"FailureThreshold", &cfg.FailureThreshold, DefaultFailureThreshold},
		{"MaxAttempts", &cfg.MaxAttempts, max(2, len(cfg.primaries)+len(cfg.backups))},
	} {
		if *f.v < 0 {
			return nil, invalid(f.name, "negative value %d", *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.MaxAttempts > 100 {
		return nil, invalid("MaxAttempts", "%d is over 100", cfg.MaxAttempts)
	}
	if c.Logger != nil && (c.Password != "" || c.Session != "") {
		var plain []string
		for _, u := range append(cfg.primaries[:len(cfg.primaries):len(cfg.primaries)], cfg.backups...) {
			if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
				plain = append(plain, redactURL(u))
			}
		}
		if len(plain) > 0 {
			c.Logger.Warn("client: the password and session go unencrypted over plain http: use https", "endpoints", strings.Join(plain, ", "))
		}
	}
	return cfg, nil
}

// Client talks to a Registration Server published under several URLs: it
// spreads calls round robin, fails over, keeps the Red/Green reachability
// state, polls for messages and queues what can wait while offline.
//
// Create one with New and share it: a Client is safe for concurrent use.
// Close stops every goroutine it started.
type Client struct {
	cfg   *config
	log   *slog.Logger
	httpc *http.Client
	rt    http.RoundTripper // the transport of every attempt and probe
	// closeIdle closes the idle connections of a transport the Client
	// owns (HTTPClient nil); it does nothing for the application's.
	closeIdle func()
	pool      *pool
	state     *stateHolder
	// lastUnreachable is when a call last failed on every endpoint (nil
	// before the first), with its monotonic reading: the recovery spread
	// counts from after it, and a step of the wall clock must not move
	// the drain.
	lastUnreachable atomic.Pointer[time.Time]
	budget          *retryBudget

	outbox    offline.Outbox
	ownOutbox bool
	drainRate *rate.Limiter // paces outbox sends

	rngMu sync.Mutex
	rng   *rand.Rand

	session  atomic.Pointer[string]
	deviceID atomic.Pointer[string]
	creds    atomic.Pointer[credentials]
	loginSem chan struct{} // capacity 1: one login at a time, waited on with the caller's ctx

	// testHookReachedRed, set by this package's tests while no call runs,
	// runs in reached after it saw the level Red, before the state's lock.
	testHookReachedRed func()

	drainer drainer                  // runs the outbox drains
	poll    atomic.Pointer[pollLoop] // the running poll loop, nil when none runs
	// serverPoll is the <pollinterval> of the last poll's reply.
	serverPoll atomic.Int64

	stats clientStats

	ctx       context.Context // canceled by Close
	cancel    context.CancelFunc
	lifeMu    sync.Mutex // guards closing and wg.Add
	closing   bool
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type clientStats struct {
	calls, attempts, retries, hedges, denied atomic.Int64
}

// New validates cfg and returns a Client. A bad field fails with an error
// wrapping ErrInvalidConfig that names it. New starts no goroutine: the
// outbox drain and the poll loop run on timers' goroutines only while they
// work, and Close waits for them.
func New(cfg Config) (*Client, error) {
	vc, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	seed := vc.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	c := &Client{
		cfg:      vc,
		log:      vc.Logger,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		loginSem: make(chan struct{}, 1),
	}
	c.drainer.c = c
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	base := vc.HTTPClient
	if base == nil {
		base = &http.Client{}
	}
	rt := base.Transport
	closeIdle := func() {} // a transport the application supplied stays open
	if rt == nil {
		// The Client's own transport, so that Close can end its
		// connections: http.DefaultTransport's settings (proxy from the
		// environment, HTTP/2 over TLS, the system's roots, its timeouts)
		// or, when the application replaced http.DefaultTransport with
		// another RoundTripper, that one, left open like a supplied one.
		rt = http.DefaultTransport
		if dt, ok := rt.(*http.Transport); ok {
			own := dt.Clone()
			rt, closeIdle = own, own.CloseIdleConnections
		}
	}
	// Each call is the RoundTripper of its attempts over rt (see
	// call.RoundTrip): it bounds each attempt and hedges. go-retryablehttp
	// then never reaches rt's CloseIdleConnections, which it would call
	// after every failed call.
	c.rt, c.closeIdle = rt, closeIdle
	c.httpc = &http.Client{
		Transport: rt,
		Jar:       base.Jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	c.budget = newRetryBudget(vc.RetryBudget, vc.RetryBudgetMin, vc.RetryBudgetWindow)
	c.state = newStateHolder(len(vc.primaries) + len(vc.backups))
	c.pool = newPool(c, vc.primaries, vc.backups, c.randUint64())
	if vc.Session != "" {
		s := vc.Session
		c.session.Store(&s)
	}
	if vc.DeviceID != "" {
		d := vc.DeviceID
		c.deviceID.Store(&d)
	}
	if vc.Username != "" {
		c.creds.Store(&credentials{username: vc.Username, password: vc.Password})
	}
	c.outbox = vc.Outbox
	if c.outbox == nil {
		c.outbox = offline.NewMemory(offline.MemoryOptions{Logger: vc.Logger})
		c.ownOutbox = true
	}
	c.drainRate = rate.NewLimiter(rate.Limit(vc.DrainRate), 1)
	// A scope, not context.WithCancel: it keeps no map of the calls'
	// contexts once they end (memory per client, internal/scope).
	life := scope.New(context.Background())
	c.ctx, c.cancel = life, life.Cancel
	return c, nil
}

// Close cancels the calls in flight (they return ErrClosed), stops the
// poll loop and the outbox drain and waits for them, moves the state to
// Shutdown (subscribers see it) and stops the subscribers without waiting
// for a callback that blocks, and closes the outbox if the Client created
// it. The default in-memory outbox cannot keep what it holds: Close then
// returns an error naming how many queued items are lost (and logs it), so
// an application that must not lose them passes a durable outbox in
// Config.Outbox. Later calls fail with ErrClosed. Close is idempotent and
// returns the same error each time.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.lifeMu.Lock()
		c.closing = true
		c.lifeMu.Unlock()
		c.cancel()
		c.drainer.close()
		if l := c.poll.Load(); l != nil {
			l.end()
		}
		c.pool.close()
		c.state.close(c.log)
		c.wg.Wait()
		if c.ownOutbox {
			c.closeErr = c.outbox.Close()
		}
		c.closeIdle()
	})
	return c.closeErr
}

func (c *Client) closed() bool { return c.ctx.Err() != nil }

// track counts work of the Client's that Close must wait for (a probe);
// false once Close has begun.
func (c *Client) track() bool {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closing {
		return false
	}
	c.wg.Add(1)
	return true
}

// randUint64 draws from the client's seeded source.
func (c *Client) randUint64() uint64 {
	c.rngMu.Lock()
	v := c.rng.Uint64()
	c.rngMu.Unlock()
	return v
}

// randDuration returns a uniform duration in [0, d).
func (c *Client) randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	c.rngMu.Lock()
	v := c.rng.Int64N(int64(d))
	c.rngMu.Unlock()
	return time.Duration(v)
}

// randFloat returns a uniform float in [0, 1).
func (c *Client) randFloat() float64 {
	c.rngMu.Lock()
	v := c.rng.Float64()
	c.rngMu.Unlock()
	return v
}

// cancelBody is a reply body that ends its attempt's deadline when closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

// Close closes the body and releases the attempt's deadline.
func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// Stats is a snapshot of the client's counters.
type Stats struct {
	Calls         int64 // calls that went to the network
	Attempts      int64 // attempts (requests sent)
	Retries       int64 // attempts after the first of a call
	Hedges        int64 // hedge requests (see Config.HedgeDelay)
	RetriesDenied int64 // retries, hedges and probes the budget refused
	Endpoints     []EndpointStats
}

// EndpointStats describes one endpoint.
type EndpointStats struct {
	URL       string // redacted base URL
	Tier      Tier
	Healthy   bool  // in rotation
	Ejected   bool  // out of rotation until a probe or a call finds it healthy
	Requests  int64 // attempts sent to it (hedges included)
	Probes    int64 // health probes (after an ejection, and by Probe)
	Ejections int64
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	s := Stats{
		Calls:         c.stats.calls.Load(),
		Attempts:      c.stats.attempts.Load(),
		Retries:       c.stats.retries.Load(),
		Hedges:        c.stats.hedges.Load(),
		RetriesDenied: c.stats.denied.Load(),
	}
	for _, e := range c.pool.all {
		st := e.state.Load()
		s.Endpoints = append(s.Endpoints, EndpointStats{
			URL:       e.name,
			Tier:      e.tier,
			Healthy:   st == epHealthy,
			Ejected:   st == epEjected,
			Requests:  e.requests.Load(),
			Probes:    e.probes.Load(),
			Ejections: e.ejections.Load(),
		})
	}
	return s
}
