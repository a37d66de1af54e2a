package regsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// Cluster is a simulated Registration Server cluster: N instances sharing
// one store, as the seed documents' Registration Servers share one MySQL
// database. Build one with NewCluster (no sockets: use the instances as
// http.Handlers or Transport as an in-memory client) or Start (every
// instance on its own loopback listener, plus a control endpoint). All
// methods are safe for concurrent use. Close stops everything it started.
type Cluster struct {
	cfg       Config
	salt      string
	log       *slog.Logger
	ctr       *counters
	store     *store
	instances []*Instance
	hosts     map[string]*Instance // by URL host; immutable once built
	urls      []string             // immutable once built
	transport *memTransport

	control    *http.Server // nil without a control endpoint
	controlURL string

	stalled   gauge         // requests held by Hang or Latency
	closing   chan struct{} // closed by Close: releases every waiting request
	mu        sync.RWMutex  // guards closed; held for reading while entering a handler
	closed    bool
	inflight  sync.WaitGroup // handlers running
	serving   sync.WaitGroup // Serve goroutines
	closeOnce sync.Once
	closeErr  error
}

// NewCluster builds a cluster with no sockets: cfg.Instances instances
// sharing one store. Use Instance(i) as an http.Handler, or Transport() for
// an in-memory client; URLs() are then "http://instance0.regsim.test", ….
// It starts no goroutine. It fails only on an invalid Config (*ConfigError).
func NewCluster(cfg Config) (*Cluster, error) {
	c, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	for _, in := range c.instances {
		c.hosts[in.host] = in
		c.urls = append(c.urls, "http://"+in.host)
	}
	return c, nil
}

func newCluster(cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:     cfg,
		salt:    cfg.Salt,
		log:     cfg.Logger,
		ctr:     newCounters(cfg.Now),
		hosts:   make(map[string]*Instance, 2*cfg.Instances),
		closing: make(chan struct{}),
		stalled: gauge{changed: make(chan struct{})},
	}
	c.store = newStore(&c.cfg, c.ctr)
	for i := range cfg.Instances {
		in := &Instance{
			c:     c,
			index: i,
			host:  "instance" + strconv.Itoa(i) + ".regsim.test",
			hdrID: []string{strconv.Itoa(i)},
		}
		in.fault.Store(newFaultState(Fault{}))
		c.instances = append(c.instances, in)
	}
	c.transport = &memTransport{c: c}
	return c, nil
}

// Start builds the cluster and serves every instance on its own listener
// (127.0.0.1:0 each unless opts.Addr says otherwise), plus the control
// endpoint on its own listener (see the package documentation). Close stops
// all of it. Transport() works too: it routes both the in-memory host names
// and the listeners' host:port to the instances.
func Start(cfg Config, opts StartOptions) (*Cluster, error) {
	c, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	addrs, err := instanceAddrs(opts.Addr, len(c.instances), opts.AllowRemote)
	if err != nil {
		return nil, err
	}
	ctlAddr := opts.ControlAddr
	if ctlAddr == "" {
		ctlAddr = "127.0.0.1:0"
	}
	if ctlAddr != "-" {
		if err := checkAddr("ControlAddr", ctlAddr, opts.AllowRemote); err != nil {
			return nil, err
		}
	}
	for i, in := range c.instances {
		ln, err := net.Listen("tcp", addrs[i])
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("regsim: instance %d: %w", i, err)
		}
		in.mu.Lock()
		in.addr = ln.Addr().String()
		in.serveLocked(ln)
		in.mu.Unlock()
		c.hosts[in.host] = in
		c.hosts[in.addr] = in
		c.urls = append(c.urls, "http://"+in.addr)
	}
	if ctlAddr != "-" {
		ln, err := net.Listen("tcp", ctlAddr)
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("regsim: control endpoint: %w", err)
		}
		c.controlURL = "http://" + ln.Addr().String()
		c.control = c.newServer(c.controlHandler(), nil)
		c.serving.Add(1)
		go func() {
			defer c.serving.Done()
			_ = c.control.Serve(ln) // returns when the server is closed
		}()
	}
	c.log.Info("regsim: cluster started", "urls", c.urls, "control", c.controlURL)
	return c, nil
}

// instanceAddrs returns the listen address of each of n instances.
func instanceAddrs(addr string, n int, allowRemote bool) ([]string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := checkAddr("Addr", addr, allowRemote); err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(addr) // checked by checkAddr
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, &ConfigError{"Addr", fmt.Sprintf("bad port in %q", addr)}
	}
	if port != 0 && port+n-1 > 65535 {
		return nil, &ConfigError{"Addr", fmt.Sprintf("%d instances from port %d pass 65535", n, port)}
	}
	out := make([]string, n)
	for i := range out {
		p := port
		if p != 0 {
			p += i
		}
		out[i] = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return out, nil
}

// checkAddr checks that addr is host:port and, unless allowRemote, that the
// host is a loopback address or "localhost".
func checkAddr(field, addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return &ConfigError{field, err.Error()}
	}
	if allowRemote || IsLoopback(host) {
		return nil
	}
	return &ConfigError{field, fmt.Sprintf("%q is not a loopback address (set AllowRemote to bind it)", host)}
}

// IsLoopback reports whether host (an IP address or "localhost") names the
// loopback interface.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newServer returns an http.Server for h with the simulator's timeouts.
func (c *Cluster) newServer(h http.Handler, cs func(net.Conn, http.ConnState)) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ConnState:         cs,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
}

// enter registers a running handler; it fails once the cluster is closed.
func (c *Cluster) enter() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	c.inflight.Add(1)
	return true
}

func (c *Cluster) leave() { c.inflight.Done() }

func (c *Cluster) isClosed() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.closed
}

// URLs returns the instances' base URLs: "http://127.0.0.1:port" for a
// cluster from Start, "http://instance0.regsim.test", … from NewCluster.
func (c *Cluster) URLs() []string { return append([]string(nil), c.urls...) }

// ControlURL returns the control endpoint's base URL, or "" when there is
// none (NewCluster, or StartOptions.ControlAddr "-").
func (c *Cluster) ControlURL() string { return c.controlURL }

// Len returns the number of instances.
func (c *Cluster) Len() int { return len(c.instances) }

// Instance returns instance i, or nil when i is out of range.
func (c *Cluster) Instance(i int) *Instance {
	if i < 0 || i >= len(c.instances) {
		return nil
	}
	return c.instances[i]
}

// Transport returns the in-memory http.RoundTripper of the cluster (see the
// package documentation). It is safe for concurrent use.
func (c *Cluster) Transport() http.RoundTripper { return c.transport }

// SetStoreFault sets or clears the dbdown fault of the shared store: while
// set every instance answers every command with exception -12507 (secondary
// 2003) and /healthz with 503.
func (c *Cluster) SetStoreFault(down bool) {
	if c.store.dbDown.Swap(down) != down {
		c.log.Info("regsim: store fault", "dbdown", down)
	}
}

// StoreFault reports whether the dbdown fault is set.
func (c *Cluster) StoreFault() bool { return c.store.dbDown.Load() }

// SetPollInterval sets the <pollinterval> the instances answer (whole
// seconds, rounded up); d <= 0 restores Config.PollInterval.
func (c *Cluster) SetPollInterval(d time.Duration) {
	c.store.setPollInterval(d)
	c.log.Info("regsim: poll interval", "seconds", c.store.pollSeconds())
}

// PollInterval returns the current poll interval.
func (c *Cluster) PollInterval() time.Duration {
	return time.Duration(c.store.pollInterval.Load())
}

// Counters returns a snapshot of the cluster's counters.
func (c *Cluster) Counters() Counters {
	var out Counters
	c.ctr.snapshot(&out)
	c.store.gauges(&out)
	out.RequestsByInstance = make([]int64, len(c.instances))
	out.OpenConnsByInstance = make([]int64, len(c.instances))
	for i, in := range c.instances {
		out.RequestsByInstance[i] = in.requests.Load()
		out.OpenConnsByInstance[i] = in.open.Load()
	}
	return out
}

// AddUser adds an active user. It fails with ErrUserExists if the name is
// taken.
func (c *Cluster) AddUser(username, password string) error {
	return c.store.addUser(username, password)
}

// SetUserStatus sets a user's account state; loginuser then answers -30102
// or -30103 for users who are not active. It fails with ErrUnknownUser.
func (c *Cluster) SetUserStatus(username string, s UserStatus) error {
	return c.store.setUserStatus(username, s)
}

// Messages returns the messages stored for username and not yet expired, in
// id order, whether or not devices have acknowledged them.
func (c *Cluster) Messages(username string) []wire.Message {
	return c.store.messages(username)
}

// AppliedRequests returns how many times a mutating command with this
// requestid was applied (one per acting user), however often it was sent:
// tests use it to prove that replays changed nothing.
func (c *Cluster) AppliedRequests(requestID string) int {
	return c.store.appliedRequests(requestID)
}

// Stalled returns how many requests Hang or Latency holds right now.
func (c *Cluster) Stalled() int { return c.stalled.get() }

// WaitStalled waits until Hang or Latency holds at least n requests, or ctx
// ends. Tests use it to know that their requests are hanging before they
// clear a fault.
func (c *Cluster) WaitStalled(ctx context.Context, n int) error {
	return c.stalled.wait(ctx, func(v int) bool { return v >= n })
}

// Close stops every listener and the control endpoint, releases hung and
// delayed requests and waits for every goroutine the cluster started and
// every handler running. It is idempotent; later calls return the first
// result.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.closing)
		var errs []error
		if c.control != nil {
			errs = append(errs, c.control.Close())
		}
		for _, in := range c.instances {
			errs = append(errs, in.closeServer())
		}
		c.inflight.Wait()
		c.serving.Wait()
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// gauge is a counter whose changes can be waited for.
type gauge struct {
	mu      sync.Mutex
	n       int           // guarded by mu
	changed chan struct{} // guarded by mu; closed and replaced on change
}

func (g *gauge) add(d int) {
	g.mu.Lock()
	g.n += d
	close(g.changed)
	g.changed = make(chan struct{})
	g.mu.Unlock()
}

func (g *gauge) get() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// wait returns when ok(value) holds, or ctx's error when ctx ends first.
func (g *gauge) wait(ctx context.Context, ok func(int) bool) error {
	for {
		g.mu.Lock()
		n, ch := g.n, g.changed
		g.mu.Unlock()
		if ok(n) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
