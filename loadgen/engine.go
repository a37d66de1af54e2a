package loadgen

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/sqlite"
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
	// OutboxDir, when set, gives each client the durable SQLite outbox a
	// desktop keeps (sqlite.Open: WAL, an fsync per enqueue), in a
	// directory of the run created under OutboxDir and removed at the end
	// of the run. Empty: in-memory outboxes.
	OutboxDir string
	// Outages are the fault windows (embedded cluster only).
	Outages []Outage
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

	// memCluster, set by this package's tests, stands in for the embedded
	// cluster: a cluster with no sockets (regsim.NewCluster) that the
	// clients reach through its in-memory Transport, so that a whole run
	// can go under testing/synctest. The caller closes it.
	memCluster *regsim.Cluster
}

// ErrConfig is wrapped by every configuration error of Run.
var ErrConfig = errors.New("loadgen: bad config")

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
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Clients < 1:
		return bad("Clients %d: need at least 1", c.Clients)
	case c.Clients > 1_000_000:
		return bad("Clients %d: at most 1000000", c.Clients)
	case c.RampUp < 0:
		return bad("RampUp %s is negative", c.RampUp)
	case c.Duration <= 0:
		return bad("Duration %s must be positive", c.Duration)
	case c.RampUp > c.Duration:
		return bad("RampUp %s is longer than Duration %s", c.RampUp, c.Duration)
	case c.PollInterval < 0:
		return bad("PollInterval %s is negative", c.PollInterval)
	case c.PollJitter < 0 || c.PollJitter > 1 || math.IsNaN(c.PollJitter):
		return bad("PollJitter %v is outside [0, 1]", c.PollJitter)
	case math.IsNaN(c.InviteRate) || math.IsInf(c.InviteRate, 0):
		return bad("InviteRate %v is not a number", c.InviteRate)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return bad("Rate %v must be a finite number ≥ 0", c.Rate)
	case c.Timeout < 0:
		return bad("Timeout %s is negative", c.Timeout)
	case c.DrainTimeout < 0:
		return bad("DrainTimeout %s is negative", c.DrainTimeout)
	case c.Instances < 1 || c.Instances > 64:
		return bad("Instances %d: need 1 to 64", c.Instances)
	case c.Shard.Count > 0 && (c.Shard.Index < 0 || c.Shard.Index >= c.Shard.Count):
		return bad("Shard %d/%d: %v", c.Shard.Index, c.Shard.Count, ErrBadShard)
	}
	for _, raw := range slices.Concat(c.URLs, c.BackupURLs) {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("URL %q is not an http(s) URL", raw)
		}
	}
	if len(c.URLs) == 0 && c.UserPrefix != DefaultUserPrefix {
		return bad("UserPrefix %q: the embedded cluster seeds users named %s0…; another prefix needs URLs", c.UserPrefix, DefaultUserPrefix)
	}
	if len(c.URLs) == 0 && len(c.BackupURLs) > 0 {
		return bad("BackupURLs need URLs (the embedded cluster has no backup tier)")
	}
	if len(c.URLs) > 0 && len(c.Outages) > 0 {
		return bad("Outages need the embedded cluster (no URLs): regfleet cannot switch faults on a real cluster")
	}
	for _, o := range c.Outages {
		if o.End() > c.Duration {
			return bad("outage %s ends after the run (%s)", o, c.Duration)
		}
		for _, i := range o.Instances {
			if i >= c.Instances {
				return bad("outage %s names instance %d of %d (indexes from 0)", o, i, c.Instances)
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

// Run runs the load described by cfg until its Duration has passed and the
// drain phase has ended, or ctx ends (the report then covers what ran), and
// returns the report. With no URLs it starts the embedded cluster and stops
// it before returning. Every goroutine Run starts has ended when it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := newEngine(cfg)
	defer e.shutdown()
	if err := e.setup(); err != nil {
		return nil, err
	}
	return e.run(ctx)
}

func newEngine(cfg Config) *engine {
	return &engine{cfg: cfg, log: cfg.Logger, firstSim: make(chan struct{})}
}

// engine is one run.
type engine struct {
	cfg     Config
	log     *slog.Logger
	cluster *regsim.Cluster
	urls    []string
	rec     *Recorder
	shared  *http.Transport
	start   time.Time // of the run; set before any goroutine starts

	mu   sync.Mutex // guards sims
	sims []*sim

	invitesCreated  atomic.Int64 // invitations handed to the clients
	invitesFailed   atomic.Int64 // rejected outright (neither sent nor queued)
	invitesCanceled atomic.Int64 // cut off by the end of the run
	owners          []int        // the fleet indexes this shard runs, ascending
	runID           string       // makes invitation tokens unique to the run
	received        atomic.Int64 // distinct invitations received
	duplicated      atomic.Int64 // extra copies received
	stopSending     atomic.Bool
	invites         sync.WaitGroup // the closed model's invitation timers and sends
	firstSim        chan struct{}  // closed when the first client exists
	outboxDir       string         // with Config.OutboxDir: the run's directory of outbox files
}

func (e *engine) setup() error {
	e.urls = e.cfg.URLs
	if m := e.cfg.memCluster; m != nil {
		e.cluster, e.urls = m, m.URLs()
		return e.makeOutboxDir()
	}
	if len(e.urls) == 0 {
		c, err := regsim.Start(regsim.Config{
			Instances:    e.cfg.Instances,
			Users:        e.cfg.Clients,
			Password:     e.cfg.Password,
			Salt:         e.cfg.Salt,
			PollInterval: e.cfg.PollInterval,
			Logger:       e.log,
		}, regsim.StartOptions{ControlAddr: "-"})
		if err != nil {
			return fmt.Errorf("loadgen: start the embedded cluster: %w", err)
		}
		e.cluster, e.urls = c, c.URLs()
	}
	// A client holds about one connection at a time, and up to one idle
	// connection per endpoint it rotates over; the embedded cluster holds
	// the other end of each in this process too. A durable outbox holds
	// up to sqlite.MaxOpenFiles files, at least its database and WAL
	// files once for its pool and once for its drain, its shared-memory
	// and its lock file. Raise the limit towards the larger figures, and
	// refuse to start below the smaller ones.
	perProcess := uint64(1)
	if e.cluster != nil {
		perProcess = 2
	}
	var outboxMost, outboxLeast uint64
	if e.cfg.OutboxDir != "" {
		outboxMost, outboxLeast = sqlite.MaxOpenFiles, 6
	}
	owned := uint64(e.owned())
	endpoints := uint64(min(len(e.urls)+len(e.cfg.BackupURLs), 4))
	if err := raiseOpenFileLimit(256+owned*(endpoints*perProcess+outboxMost), 256+owned*(perProcess+outboxLeast)); err != nil {
		return err
	}
	if err := e.makeOutboxDir(); err != nil {
		return err
	}
	if !e.cfg.ConnPerClient {
		e.shared = newTransport(e.owned(), e.tls())
	}
	return nil
}

// makeOutboxDir creates the run's directory of durable outboxes under
// Config.OutboxDir, when set; shutdown removes it.
func (e *engine) makeOutboxDir() error {
	if e.cfg.OutboxDir == "" {
		return nil
	}
	if err := os.MkdirAll(e.cfg.OutboxDir, 0o700); err != nil {
		return fmt.Errorf("loadgen: outbox directory: %w", err)
	}
	dir, err := os.MkdirTemp(e.cfg.OutboxDir, "run-")
	if err != nil {
		return fmt.Errorf("loadgen: outbox directory: %w", err)
	}
	e.outboxDir = dir
	return nil
}

// tls reports whether any URL of the run is https.
func (e *engine) tls() bool {
	for _, u := range slices.Concat(e.urls, e.cfg.BackupURLs) {
		if strings.HasPrefix(strings.ToLower(u), "https:") {
			return true
		}
	}
	return false
}

// owned returns the number of clients this shard runs.
func (e *engine) owned() int {
	n := 0
	for i := range e.cfg.Clients {
		if e.cfg.Shard.Owns(i) {
			n++
		}
	}
	return n
}

func (e *engine) shutdown() {
	e.mu.Lock()
	sims := e.sims
	e.sims = nil
	e.mu.Unlock()
	for _, s := range sims {
		s.close()
	}
	if e.shared != nil {
		e.shared.CloseIdleConnections()
	}
	if e.cluster != nil && e.cfg.memCluster == nil { // the caller closes a memCluster
		e.cluster.Close()
	}
	if e.outboxDir != "" {
		if err := os.RemoveAll(e.outboxDir); err != nil {
			e.log.Warn("remove the run's outbox files", "dir", e.outboxDir, "err", err)
		}
	}
}

// clientBufferSize is the read and write buffer of the fleet's
// connections. The protocol's requests and most replies fit in 1 KiB;
// net/http's default of 4 KiB each way would be most of a simulated
// client's memory. A longer reply is read in more pieces, nothing else
// changes on the wire.
const clientBufferSize = 1 << 10

// newTransport returns the transport of a client (ConnPerClient) or of the
// fleet, for conns connections per host. With tls (some URL is https) it
// negotiates HTTP/2 as http.DefaultTransport does; a plain http fleet
// skips setting HTTP/2 up, which would cost each client's transport about
// 700 bytes for nothing.
func newTransport(conns int, tls bool) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     tls,
		MaxIdleConnsPerHost:   max(conns, 2),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ReadBufferSize:        clientBufferSize,
		WriteBufferSize:       clientBufferSize,
	}
}

func (e *engine) run(ctx context.Context) (*Report, error) {
	start := time.Now()
	e.start = start
	e.owners = e.ownedIndexes()
	e.runID = strconv.FormatUint(e.cfg.Seed, 36) + "-" + strconv.FormatInt(start.UnixNano(), 36)
	rec, err := NewRecorder(RecorderConfig{Start: start})
	if err != nil {
		return nil, err
	}
	e.rec = rec
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	// Outages.
	windows := make([]window, len(e.cfg.Outages))
	for i, o := range e.cfg.Outages {
		wg.Go(func() { windows[i] = e.outage(runCtx, start, o) })
	}
	// The fleet, started evenly over the ramp-up: one goroutine walks the
	// schedule, and each client's start (login, device, first poll) runs on
	// a goroutine of its own that ends once the client is set up. From then
	// on a client is timers: its poll loop's and its invitations'.
	wg.Go(func() { e.startFleet(runCtx, start, &wg) })
	// The open model's pacer.
	if e.cfg.Rate > 0 {
		wg.Go(func() { e.openModel(runCtx, start) })
	}
	// Sampling and progress, once per second, until the end of the drain.
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	var sampler sync.WaitGroup
	sampler.Go(func() { e.sampleLoop(sampleCtx, start) })

	// Measured phase.
	measured := sleepCtx(runCtx, time.Until(start.Add(e.cfg.Duration)))
	e.stopInvitations()
	// Drain phase: bounded; ends early once nothing is queued and every
	// accepted invitation has been received.
	drainStart := time.Now()
	if measured == nil {
		e.drainPhase(runCtx)
	}
	drainTime := time.Since(drainStart)
	cancel()
	wg.Wait()
	e.invites.Wait() // stopInvitations above: only sends in progress are left
	// Stop the clients (their outbox drains run on their own contexts) so
	// that the accounting below counts a settled fleet.
	e.mu.Lock()
	for _, s := range e.sims {
		s.c.Close()
	}
	e.mu.Unlock()
	end := time.Now()
	e.sample(end)
	stopSampling()
	sampler.Wait()

	report, err := rec.Report(end)
	if err != nil {
		return nil, err
	}
	report.Config = e.runConfig()
	for i, o := range e.cfg.Outages {
		if w := windows[i]; !w.on.IsZero() {
			report.AddOutageAt(o, w.on, w.off)
		}
	}
	d := e.delivery()
	d.DrainPhase = Duration(drainTime)
	report.Delivery = &d
	return report, nil
}

func (e *engine) ownedIndexes() []int {
	var idx []int
	for i := range e.cfg.Clients {
		if e.cfg.Shard.Owns(i) {
			idx = append(idx, i)
		}
	}
	return idx
}

func (e *engine) runConfig() RunConfig {
	rc := RunConfig{
		URLs:          e.cfg.URLs,
		BackupURLs:    e.cfg.BackupURLs,
		Clients:       e.cfg.Clients,
		RampUp:        Duration(e.cfg.RampUp),
		Duration:      Duration(e.cfg.Duration),
		PollInterval:  Duration(e.cfg.PollInterval),
		InviteRate:    e.cfg.InviteRate,
		Rate:          e.cfg.Rate,
		Timeout:       Duration(e.cfg.Timeout),
		ConnPerClient: e.cfg.ConnPerClient,
		DurableOutbox: e.cfg.OutboxDir != "",
		Naive:         e.cfg.Naive,
		Shard:         e.cfg.Shard.String(),
		Seed:          int64(e.cfg.Seed),
	}
	for _, o := range e.cfg.Outages {
		rc.Outages = append(rc.Outages, o.String())
	}
	return rc
}

// window is when an outage's fault was really on.
type window struct{ on, off time.Time }

// outage switches o on at its start and off at its end (or when the run
// ends), and returns when it really did; the zero window if the run ended
// before the outage began.
func (e *engine) outage(ctx context.Context, start time.Time, o Outage) window {
	if sleepCtx(ctx, time.Until(start.Add(o.At))) != nil {
		return window{}
	}
	e.log.Info("outage begins", "outage", o.String())
	e.setFault(o, true)
	w := window{on: time.Now()}
	_ = sleepCtx(ctx, time.Until(start.Add(o.End())))
	e.setFault(o, false)
	w.off = time.Now()
	e.log.Info("outage ends", "outage", o.String())
	return w
}

func (e *engine) setFault(o Outage, on bool) {
	if o.Mode == OutageDBDown {
		e.cluster.SetStoreFault(on)
		return
	}
	var f regsim.Fault
	if on {
		switch o.Mode {
		case OutageDown:
			f.Down = true
		case OutageUnavailable:
			f.Unavailable, f.RetryAfter = true, 5*time.Second
		case OutageHang:
			f.Hang = true
		case OutageReset:
			f.Reset = true
		}
	}
	targets := o.Instances
	if targets == nil {
		targets = make([]int, e.cluster.Len())
		for i := range targets {
			targets[i] = i
		}
	}
	for _, i := range targets {
		e.cluster.Instance(i).SetFault(f)
	}
}

// sampleLoop samples the fleet's gauges once per second.
func (e *engine) sampleLoop(ctx context.Context, start time.Time) {
	next := start.Add(time.Second)
	for sleepCtx(ctx, time.Until(next)) == nil {
		now := time.Now()
		e.sample(now)
		if e.cfg.Progress != nil {
			e.cfg.Progress(e.rec.Live(now))
		}
		next = next.Add(time.Second)
		if next.Before(now) { // fell behind: skip, do not burst
			next = now.Truncate(time.Second).Add(time.Second)
		}
	}
}

func (e *engine) sample(now time.Time) {
	var g Gauges
	e.mu.Lock()
	sims := slices.Clone(e.sims)
	e.mu.Unlock()
	for _, s := range sims {
		g.Clients++
		switch s.c.State().Level {
		case client.Green:
			g.Green++
		case client.Red:
			g.Red++
		}
		n, _ := s.ob.Len(context.Background())
		g.Outbox += int64(n)
	}
	e.rec.Sample(now, g)
}

// drainPhase waits, bounded by DrainTimeout, until no client has anything
// queued and every invitation sent has been received.
func (e *engine) drainPhase(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.DrainTimeout)
	defer cancel()
	for {
		if d := e.delivery(); d.Received >= d.Accepted && d.Queued == 0 {
			return
		}
		if sleepCtx(ctx, 250*time.Millisecond) != nil {
			return
		}
	}
}

// delivery accounts for the invitations so far: accepted are those created
// and neither still queued, dead, nor rejected.
func (e *engine) delivery() Delivery {
	e.mu.Lock()
	sims := slices.Clone(e.sims)
	e.mu.Unlock()
	var queued, dead int64
	for _, s := range sims {
		q, _ := s.ob.Len(context.Background())
		queued += int64(q)
		dl, _ := s.ob.Dead(context.Background())
		dead += int64(len(dl))
	}
	d := Delivery{
		Accepted:   e.invitesCreated.Load() - e.invitesFailed.Load() - e.invitesCanceled.Load() - queued - dead,
		Received:   e.received.Load(),
		Duplicated: e.duplicated.Load(),
		Queued:     queued,
		Dead:       dead,
	}
	d.Settle()
	return d
}

// openModel hands invitations to random clients at Rate per second.
func (e *engine) openModel(ctx context.Context, start time.Time) {
	p, err := NewPacer(PacerConfig{Rate: e.cfg.Rate, RampUp: e.cfg.RampUp, Start: start, Recorder: e.rec})
	if err != nil {
		e.log.Error("pacer", "err", err)
		return
	}
	rng := rand.New(rand.NewPCG(e.cfg.Seed, 0x9e3779b97f4a7c15))
	// In-flight sends are bounded so that a stalled server cannot make the
	// generator grow without bound; a send waiting for a slot still counts
	// from its intended time.
	slots := make(chan struct{}, max(64, 4*e.owned()))
	var wg sync.WaitGroup
	defer wg.Wait()
	end := e.start.Add(e.cfg.Duration)
	p.Stop(end)
	for {
		s, err := p.Next(ctx)
		if err != nil || !s.Intended.Before(end) {
			return
		}
		target := e.randomSim(ctx, rng, end)
		if target == nil {
			e.rec.RecordOperation(opInvite, s.Intended, time.Now(), Outcome{Class: "no-client"})
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			target.invite(ctx, s.Intended)
		})
	}
}

// randomSim returns a random client of the fleet. Before the first client
// exists (the pacer's first send is due at the very start) it waits for
// one, until ctx ends or the run's end; nil if none came.
func (e *engine) randomSim(ctx context.Context, rng *rand.Rand, end time.Time) *sim {
	select {
	case <-e.firstSim:
	default:
		t := time.NewTimer(time.Until(end))
		defer t.Stop()
		select {
		case <-e.firstSim:
		case <-ctx.Done():
			return nil
		case <-t.C:
			return nil
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sims[rng.IntN(len(e.sims))]
}

// opInvite is the name under which the engine records the user operation
// "send an invitation" with Recorder.RecordOperation, from its intended
// time, whether the client sent it at once or queued it; the protocol call
// itself is recorded as the command "sendinvitation" when it reaches the
// network, and only the call counts in the report's totals.
const opInvite = "invite"

// sleepCtx waits d or until ctx ends; it returns ctx.Err() in the second
// case, and at once when d is not positive.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	return SystemClock().Sleep(ctx, d)
}

// sim is one simulated desktop client.
type sim struct {
	e     *engine
	idx   int
	user  string
	c     *client.Client
	ob    offline.Manager
	seq   atomic.Int64
	trans *http.Transport // own transport with ConnPerClient

	mu   sync.Mutex // guards the fields below
	rng  *rand.Rand
	seen map[string]int
	// The closed model's invitations: a timer while waiting, the timer's
	// goroutine while sending. engine.invites counts an armed timer or a
	// send in progress.
	invTimer   *time.Timer
	invCtx     context.Context
	invNext    time.Time // intended time of the next invitation
	invArmed   bool
	invStopped bool
}

// startFleet starts the owned clients evenly over the ramp-up, each on a
// goroutine of wg that ends once the client is set up.
func (e *engine) startFleet(ctx context.Context, start time.Time, wg *sync.WaitGroup) {
	owned := e.owners
	for k, i := range owned {
		at := start
		if len(owned) > 1 {
			at = start.Add(time.Duration(float64(e.cfg.RampUp) * float64(k) / float64(len(owned))))
		}
		if sleepCtx(ctx, time.Until(at)) != nil {
			return
		}
		wg.Go(func() { e.startClient(ctx, i, at) })
	}
}

// stopInvitations ends the closed model's invitations: no timer fires
// after it, and e.invites counts only invitations already being sent.
func (e *engine) stopInvitations() {
	e.stopSending.Store(true)
	e.mu.Lock()
	sims := slices.Clone(e.sims)
	e.mu.Unlock()
	for _, s := range sims {
		s.stopInvites()
	}
}

func (e *engine) startClient(ctx context.Context, idx int, at time.Time) {
	s, err := e.newSim(idx)
	if err != nil {
		e.log.Error("client", "index", idx, "err", err)
		e.rec.Record("newclient", at, time.Now(), Outcome{Class: ClassOther})
		return
	}
	e.mu.Lock()
	e.sims = append(e.sims, s)
	if len(e.sims) == 1 {
		close(e.firstSim)
	}
	e.mu.Unlock()
	s.setUp(ctx)
}

func (e *engine) newSim(idx int) (*sim, error) {
	s := &sim{
		e:    e,
		idx:  idx,
		user: e.cfg.UserPrefix + strconv.Itoa(idx),
		rng:  rand.New(rand.NewPCG(e.cfg.Seed, uint64(idx))),
		seen: make(map[string]int),
	}
	if e.outboxDir == "" {
		s.ob = offline.NewMemory(offline.MemoryOptions{})
	} else {
		ob, err := sqlite.Open(filepath.Join(e.outboxDir, s.user+".db"), sqlite.Options{})
		if err != nil {
			return nil, err
		}
		s.ob = ob
	}
	var rt http.RoundTripper = e.shared
	switch {
	case e.cfg.memCluster != nil:
		rt = e.cfg.memCluster.Transport()
	case e.cfg.ConnPerClient:
		s.trans = newTransport(2, e.tls())
		rt = s.trans
	}
	c, err := client.New(client.Config{
		URLs:           e.urls,
		BackupURLs:     e.cfg.BackupURLs,
		Username:       s.user,
		Password:       e.cfg.Password,
		Salt:           e.cfg.Salt,
		HTTPClient:     &http.Client{Transport: &countingTransport{rt: rt, rec: e.rec}},
		Outbox:         s.ob,
		PollInterval:   e.cfg.PollInterval,
		PollJitter:     e.cfg.PollJitter,
		DisableJitter:  e.cfg.Naive,
		AttemptTimeout: e.cfg.Timeout,
		Seed:           e.cfg.Seed ^ uint64(idx+1)*0x9e3779b97f4a7c15,
		OnCall:         s.onCall,
	})
	if err != nil {
		s.ob.Close()
		return nil, err
	}
	s.c = c
	return s, nil
}

func (s *sim) close() {
	s.c.Close()
	s.ob.Close()
	if s.trans != nil {
		s.trans.CloseIdleConnections()
	}
}

// onCall records every call the client makes, the poll loop's included,
// except calls the end of the run canceled: those have no outcome.
func (s *sim) onCall(ci client.CallInfo) {
	if errors.Is(ci.Err, context.Canceled) || errors.Is(ci.Err, client.ErrClosed) {
		return
	}
	o := Outcome{Endpoint: ci.Endpoint, Class: classify(ci.Err)}
	s.e.rec.Record(ci.Command, ci.Start, ci.Start.Add(ci.Duration), o)
}

// setUp logs in, registers a device, starts polling and (closed model)
// schedules the first invitation.
func (s *sim) setUp(ctx context.Context) {
	// Login and device registration are online-only: retry them until the
	// server answers, as a desktop application would.
	for attempt := 0; ; attempt++ {
		if _, err := s.c.Login(ctx); err == nil {
			break
		} else if ctx.Err() != nil || isPermanent(err) {
			return
		}
		if sleepCtx(ctx, s.backoff(attempt)) != nil {
			return
		}
	}
	for attempt := 0; ; attempt++ {
		if _, err := s.c.RegisterDevice(ctx, "loadgen-"+s.user, "pk-"+s.user); err == nil {
			break
		} else if ctx.Err() != nil || isPermanent(err) {
			return
		}
		if sleepCtx(ctx, s.backoff(attempt)) != nil {
			return
		}
	}
	if err := s.c.StartPolling(ctx, s.handle); err != nil {
		return
	}
	if s.e.cfg.Rate > 0 || s.e.cfg.InviteRate <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.invStopped || s.e.stopSending.Load() {
		return
	}
	s.invCtx = ctx
	s.invNext = time.Now().Add(s.interArrivalLocked())
	s.e.invites.Add(1) // until the invitations stop; stopInvitations precedes invites.Wait
	s.invArmed = true
	s.invTimer = time.AfterFunc(time.Until(s.invNext), s.inviteTick)
}

// interArrivalLocked draws the wait until the next invitation of the
// closed model (Poisson arrivals at InviteRate per minute).
func (s *sim) interArrivalLocked() time.Duration {
	mean := time.Minute.Seconds() / s.e.cfg.InviteRate
	return time.Duration(s.rng.ExpFloat64() * mean * float64(time.Second))
}

// inviteTick sends the invitation due at s.invNext on the timer's
// goroutine and arms the timer for the next one.
func (s *sim) inviteTick() {
	s.mu.Lock()
	s.invArmed = false
	if s.invStopped {
		s.mu.Unlock()
		s.e.invites.Done()
		return
	}
	ctx, intended := s.invCtx, s.invNext
	s.mu.Unlock()

	// Recorded from the intended time: when the previous invitation ran
	// late, this one's wait counts against the server.
	s.invite(ctx, intended)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.invStopped || ctx.Err() != nil {
		s.invStopped = true
		s.e.invites.Done()
		return
	}
	s.invNext = intended.Add(s.interArrivalLocked())
	s.invArmed = true
	s.invTimer.Reset(time.Until(s.invNext))
}

// stopInvites stops the client's invitations: the timer, if armed, never
// fires; an invitation being sent finishes and arms nothing.
func (s *sim) stopInvites() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invStopped = true
	if s.invArmed && s.invTimer.Stop() {
		s.invArmed = false
		s.e.invites.Done()
	}
}

// invite sends one invitation to a random other user of the fleet.
func (s *sim) invite(ctx context.Context, intended time.Time) {
	// Recipients are other clients of this shard, so that each shard's
	// delivery accounting is complete on its own and shard reports add up.
	owned := s.e.owners
	if len(owned) < 2 {
		return
	}
	to := owned[s.intN(len(owned))]
	if to == s.idx {
		to = owned[(slices.Index(owned, s.idx)+1)%len(owned)]
	}
	// The token is unique to this run, so that invitations a real cluster
	// still holds from an earlier run are not taken for this run's.
	token := s.e.runID + ":" + strconv.Itoa(s.idx) + ":" + strconv.FormatInt(s.seq.Add(1), 10)
	s.e.invitesCreated.Add(1)
	if s.e.cfg.Rate == 0 {
		// The open model's pacer records its own schedule lag.
		s.e.rec.RecordLag(intended, time.Now())
	}
	_, err := s.c.SendInvitation(ctx, client.Invitation{
		SpaceID:   strconv.Itoa(s.idx),
		Recipient: s.e.cfg.UserPrefix + strconv.Itoa(to),
		Payload:   []byte(token),
	})
	if errors.Is(err, context.Canceled) {
		// The run ended first: no outcome to record.
		s.e.invitesCanceled.Add(1)
		return
	}
	if err != nil {
		s.e.invitesFailed.Add(1)
	}
	// The call itself is recorded by onCall when it reached the network;
	// here the whole operation, from its intended time, is.
	s.e.rec.RecordOperation(opInvite, intended, time.Now(), Outcome{Class: classify(err)})
}

// handle receives each message once per id from the client's poll loop.
func (s *sim) handle(_ context.Context, m client.Message) {
	if m.Type != "invitation" {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(m.Payload)
	if err != nil {
		return
	}
	token, ok := strings.CutPrefix(string(raw), s.e.runID+":")
	if !ok {
		return // an invitation from another run
	}
	s.mu.Lock()
	s.seen[token]++
	first := s.seen[token] == 1
	s.mu.Unlock()
	if first {
		s.e.received.Add(1)
	} else {
		s.e.duplicated.Add(1)
	}
}

// backoff is the wait before retrying a failed login or device
// registration: full jitter up to 250 ms doubling to at most 10 s.
func (s *sim) backoff(attempt int) time.Duration {
	ceiling := min(time.Duration(1<<min(attempt, 6))*250*time.Millisecond, 10*time.Second)
	return time.Duration(s.intN(int(ceiling))) + 1
}

// intN draws from the client's random source, which the open model's
// senders share with the client's own timers.
func (s *sim) intN(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.IntN(n)
}

func isPermanent(err error) bool {
	var se *client.ServerError
	return errors.As(err, &se) && se.Primary != 0 && se.Primary != wire.CodeDatabase && se.Primary != wire.CodeSessionExpired
}

// classify maps a client error to a Recorder error class, by the causes the
// client keeps (errors.Is/As through its CallError), never by message text.
func classify(err error) string {
	if err == nil {
		return ""
	}
	var se *client.ServerError
	var he *client.HTTPError
	var ne net.Error
	switch {
	case errors.Is(err, client.ErrOffline):
		return ClassOffline
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	case errors.As(err, &se):
		return ClassException
	case errors.As(err, &he):
		return ClassHTTP
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassReset
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	}
	return ClassOther
}

// countingTransport records every attempt put on the wire, per second and
// per endpoint.
type countingTransport struct {
	rt  http.RoundTripper
	rec *Recorder
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.rec.RecordAttempt(time.Now(), r.URL.Scheme+"://"+r.URL.Host)
	return t.rt.RoundTrip(r)
}
