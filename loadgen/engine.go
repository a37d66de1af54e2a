package loadgen

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/internal/h1"
	"github.com/regfleet/regfleet/offline/sqlite"
	"github.com/regfleet/regfleet/regsim"
)

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
	return &engine{cfg: cfg, log: cfg.Logger, firstSim: make(chan struct{}),
		dial: &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}}
}

// engine is one run.
type engine struct {
	cfg     Config
	log     *slog.Logger
	cluster *regsim.Cluster
	urls    []string
	rec     *Recorder
	shared  transport   // the fleet's, without ConnPerClient
	dial    *net.Dialer // of every transport of the run
	tlsConf *tls.Config // of the lean transports, sharing a session cache
	bufs    h1.Buffers  // of the lean transports
	start   time.Time   // of the run; set before any goroutine starts

	mu      sync.Mutex // guards sims and polling
	sims    []*sim
	polling []int // fleet indexes of the clients that have begun to poll

	track       *tracker     // each invitation from acceptance to receipt
	setupLog    setupLog     // how the clients' starts went
	meter       *selfMeter   // the generator's own CPU and scheduling
	owners      []int        // the fleet indexes this shard runs, ascending
	runID       string       // makes invitation tokens unique to the run
	received    atomic.Int64 // distinct invitations received
	duplicated  atomic.Int64 // extra copies received
	stopSending atomic.Bool
	invites     sync.WaitGroup // the closed model's invitation timers and sends
	firstSim    chan struct{}  // closed when the first client exists
	outboxDir   string         // with Config.OutboxDir: the run's directory of outbox files
	files       filePlan       // how the run fits under the open-file limit
	drainEnds   atomic.Int64   // UnixNano by which the drain phase ends; 0 before it
	slowDowns   atomic.Int32   // server slow-downs in force (Config.SlowDown)
	basePoll    time.Duration  // the embedded cluster's own <pollinterval>, before any slow-down
}

// Phases of a run, as Live.Phase names them.
const (
	PhaseRampUp = "ramp-up"
	PhaseLoad   = "load"
	PhaseOutage = "outage"
	PhaseDrain  = "drain"
)

// phase returns the phase of the run at now and the time left in it (to
// the end of the measured phase, or the drain's bound).
func (e *engine) phase(now time.Time) (string, time.Duration) {
	if d := e.drainEnds.Load(); d != 0 {
		return PhaseDrain, max(0, time.Unix(0, d).Sub(now))
	}
	left := max(0, e.start.Add(e.cfg.Duration).Sub(now))
	at := now.Sub(e.start)
	for _, o := range e.cfg.Outages {
		if at >= o.At && at < o.End() {
			return PhaseOutage, left
		}
	}
	for _, w := range e.cfg.OutageWindows {
		if at >= w.At && at < w.At+w.Duration {
			return PhaseOutage, left
		}
	}
	if at < e.cfg.RampUp {
		return PhaseRampUp, left
	}
	return PhaseLoad, left
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
	// Fit the connections and the outboxes under the open-file limit
	// (planFiles). The embedded cluster holds the other end of each
	// connection in this process too.
	needs := fileNeeds{
		clients:       uint64(e.owned()),
		endpoints:     uint64(len(e.urls) + len(e.cfg.BackupURLs)),
		perConn:       1,
		connPerClient: e.cfg.ConnPerClient,
	}
	if e.cluster != nil {
		needs.perConn = 2
	}
	if e.cfg.OutboxDir != "" {
		needs.outboxMost = sqlite.MaxOpenFiles
	}
	_, hard, err := openFileLimit()
	if err != nil {
		return err
	}
	plan, err := planFiles(hard, needs)
	if err != nil {
		return err
	}
	if plan.soft > 0 {
		if err := raiseOpenFiles(plan.soft); err != nil {
			return err
		}
	}
	e.files = plan
	if err := e.makeOutboxDir(); err != nil {
		return err
	}
	if e.tls() {
		e.tlsConf = &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(0)}
	}
	if !e.cfg.ConnPerClient {
		e.shared = newTransport(e.cfg.Transport, e.dial, e.tlsConf, &e.bufs, e.owned(), plan.sharedConns, 0)
	}
	return nil
}

// transportName is the clients' transport as the report names it: ""
// when they reach an in-memory cluster.
func (e *engine) transportName() string {
	if e.cfg.memCluster != nil {
		return ""
	}
	return e.cfg.Transport
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

// transport is an HTTP transport of the run: net/http's or the lean one.
type transport interface {
	http.RoundTripper
	CloseIdleConnections()
}

var (
	_ transport = (*http.Transport)(nil)
	_ transport = (*h1.Transport)(nil)
)

// clientBufferSize is the read and write buffer of net/http's
// connections. The protocol's requests and most replies fit in 1 KiB;
// net/http's default of 4 KiB each way would be most of a simulated
// client's memory. A longer reply is read in more pieces, nothing else
// changes on the wire. (The lean transport holds no buffer while a
// connection is idle and pools them.)
const clientBufferSize = 1 << 10

// newTransport returns the transport of a client (ConnPerClient) or of the
// fleet, of kind (Config.Transport), dialling with d (and taking the lean
// transport's buffers from bufs, shared by the fleet): it keeps up to idle
// connections per host (at least 2), opens at most maxConns per host (0:
// no limit), and keeps at most maxIdle idle over all hosts (0: no limit).
// tlsConf is set when some URL is https: the lean transports share it
// (and its session cache); net/http's then negotiates HTTP/2.
func newTransport(kind string, d *net.Dialer, tlsConf *tls.Config, bufs *h1.Buffers, idle, maxConns, maxIdle int) transport {
	if kind == TransportNetHTTP {
		t := newHTTPTransport(d, idle, tlsConf != nil)
		t.MaxConnsPerHost, t.MaxIdleConns = maxConns, maxIdle
		return t
	}
	return &h1.Transport{
		DialContext:         d.DialContext,
		TLSClientConfig:     tlsConf,
		Buffers:             bufs,
		MaxConnsPerHost:     maxConns,
		MaxIdleConnsPerHost: max(idle, 2),
		MaxIdleConns:        maxIdle,
		IdleConnTimeout:     90 * time.Second,
	}
}

// newHTTPTransport returns a net/http transport for idle connections per
// host. With tls (some URL is https) it negotiates HTTP/2 as
// http.DefaultTransport does; a plain http fleet skips setting HTTP/2 up,
// which would cost each client's transport about 700 bytes for nothing.
func newHTTPTransport(d *net.Dialer, idle int, tls bool) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     tls,
		MaxIdleConnsPerHost:   max(idle, 2),
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
	e.track = newTracker(rec)
	if e.cluster != nil {
		e.basePoll = e.cluster.PollInterval()
	}
	var cpu func() time.Duration
	if cpuMeasured {
		cpu = cpuTime
	}
	if e.cfg.memCluster != nil {
		// Simulated time: CPU seconds over fake seconds mean nothing.
		cpu = e.cfg.cpuSource
	}
	e.meter = newSelfMeter(cpu)
	e.meter.begin(start)
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
	e.drainEnds.Store(drainStart.Add(e.drainTimeout()).UnixNano())
	if measured == nil {
		e.drainPhase(runCtx)
	}
	drainTime := time.Since(drainStart)
	cancel()
	wg.Wait()
	e.invites.Wait() // stopInvitations above: only sends in progress are left
	// The last sample, of the fleet as it ends: before Close, after which
	// a client is neither Green nor Red (and, carried forward by Merge,
	// would empty the Green line of a shard that ended first).
	stopSampling()
	sampler.Wait()
	end := time.Now()
	e.sample(end)
	// Stop the clients (their outbox drains run on their own contexts) so
	// that the accounting below counts a settled fleet.
	e.mu.Lock()
	for _, s := range e.sims {
		s.c.Close()
	}
	e.mu.Unlock()

	report, err := rec.Report(end)
	if err != nil {
		return nil, err
	}
	report.Config = e.runConfig()
	report.Config.EffectivePollInterval = Duration(e.effectivePoll())
	if c := &report.Config; c.EffectivePollInterval > c.PollInterval && c.PollInterval > 0 {
		c.EffectiveDrainRate = c.DrainRate * float64(c.PollInterval) / float64(c.EffectivePollInterval)
	}
	for i, o := range e.cfg.Outages {
		if w := windows[i]; !w.on.IsZero() {
			report.AddOutageAt(o, w.on, w.off)
		}
	}
	for _, w := range e.cfg.OutageWindows {
		report.AddWindow(w)
	}
	report.UpdateOutages() // with Config set: the steady windows after the ramp-up
	d := e.finalDelivery(ctx.Err() != nil, drainTime)
	report.Delivery = &d
	var attempts int64
	for _, p := range report.Series.Points {
		attempts += p.Attempts
	}
	report.Generator = e.meter.stats(end, attempts, e.cluster != nil && e.cfg.memCluster == nil)
	report.Generator.OpenFileLimit = e.files.hard
	report.Generator.SharedConnLimit = e.files.sharedConns
	report.Setup = e.setupLog.stats(len(e.owners))
	// An interrupted run in which no client had tried yet is not a failure
	// to start.
	// A shard that owns no client (more shards than clients) has nothing
	// to start.
	if st := report.Setup; st.Clients > 0 && st.Started == 0 && (st.Failed > 0 || ctx.Err() == nil) {
		return report, ErrNoClientStarted
	}
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
		// A URL may carry a password: never into a report.
		URLs:          redactedURLs(e.cfg.URLs),
		BackupURLs:    redactedURLs(e.cfg.BackupURLs),
		Clients:       e.cfg.Clients,
		RampUp:        Duration(e.cfg.RampUp),
		Duration:      Duration(e.cfg.Duration),
		PollInterval:  Duration(e.cfg.PollInterval),
		InviteRate:    e.cfg.InviteRate,
		Rate:          e.cfg.Rate,
		Timeout:       Duration(e.cfg.Timeout),
		ConnPerClient: e.cfg.ConnPerClient,
		Transport:     e.transportName(),
		DurableOutbox: e.cfg.OutboxDir != "",
		Naive:         e.cfg.Naive,
		Shard:         e.cfg.Shard.String(),
		Seed:          int64(e.cfg.Seed),
		SlowDown:      e.cfg.SlowDown.String(),
		CommandLine:   e.cfg.CommandLine,
		TimerSlack:    Duration(e.cfg.TimerSlack),
	}
	// The clients' settings as they applied them: the SDK's defaults for
	// what the run left to them, none of the jitter with Naive.
	rc.PollJitter = e.cfg.PollJitter
	if rc.PollJitter == 0 {
		rc.PollJitter = client.DefaultPollJitter
	}
	rc.RecoverySpread = Duration(cmp.Or(e.cfg.RecoverySpread, client.DefaultRecoverySpread))
	if e.cfg.Naive {
		rc.PollJitter, rc.RecoverySpread = 0, 0
	}
	rc.PollMaxInterval = Duration(cmp.Or(e.cfg.PollMaxInterval, max(client.DefaultPollMaxInterval, e.cfg.PollInterval)))
	rc.DrainRate = cmp.Or(e.cfg.DrainRate, client.DefaultDrainRate)
	for _, o := range e.cfg.Outages {
		rc.Outages = append(rc.Outages, o.String())
	}
	for _, w := range e.cfg.OutageWindows {
		rc.OutageWindows = append(rc.OutageWindows, w.String())
	}
	return rc
}

// sampleLoop samples the fleet's gauges once per second.
func (e *engine) sampleLoop(ctx context.Context, start time.Time) {
	next := start.Add(time.Second)
	for sleepCtx(ctx, time.Until(next)) == nil {
		now := time.Now()
		e.sample(now)
		// After the sample, which takes a while with many clients: the CPU
		// time and the clock are read together.
		share := e.meter.tick(time.Now())
		if e.cfg.Progress != nil {
			l := e.rec.Live(now)
			l.CPUShare = share
			l.Phase, l.Left = e.phase(now)
			e.cfg.Progress(l)
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

// sleepCtx waits d or until ctx ends; it returns ctx.Err() in the second
// case, and at once when d is not positive.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	return SystemClock().Sleep(ctx, d)
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
