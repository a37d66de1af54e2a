package client

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// blackHole is a loopback listener that accepts connections and never
// answers, as a host whose process hangs (or a firewall that accepts and
// drops) does. Close ends it and every connection it holds.
type blackHole struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newBlackHole(t testing.TB) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln}
	b.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
		}
	})
	t.Cleanup(b.close)
	return b
}

func (b *blackHole) url() string { return "http://" + b.ln.Addr().String() }

func (b *blackHole) close() {
	b.ln.Close()
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
}

// refusedURL is a loopback port nobody listens on.
func refusedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// realFleet is a client over real loopback sockets against [black hole,
// refused port, a regsim instance], logged in with a device.
func realFleet(t testing.TB) *Client {
	t.Helper()
	cl, err := regsim.Start(regsim.Config{Instances: 1, Users: 2}, regsim.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := newClient(t, Config{
		URLs:       []string{newBlackHole(t).url(), refusedURL(t), cl.URLs()[0]},
		Username:   "user0",
		Password:   regsim.DefaultPassword,
		HTTPClient: &http.Client{Transport: tr},
		Seed:       3,
	})
	return c
}

// TestRealBlackHole: over real sockets, against [black hole, refused port,
// healthy], with the defaults, every call succeeds and the black hole is
// ejected after at most FailureThreshold user calls touched it (hedged,
// each costing about HedgeDelay, not AttemptTimeout).
func TestRealBlackHole(t *testing.T) {
	c := realFleet(t)
	ctx := context.Background()
	for i := range 8 {
		if _, err := c.GetSettings(ctx); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	bh := c.Stats().Endpoints[0]
	if bh.Requests > DefaultFailureThreshold || (bh.Requests == DefaultFailureThreshold && !bh.Ejected) {
		t.Errorf("black hole after 8 calls: %+v; want ejected after at most %d requests", bh, DefaultFailureThreshold)
	}
}

// BenchmarkBlackHoleCalls prints the figure of the failover target: 40
// user calls at 1/s over real loopback sockets against [black hole,
// refused port, healthy], with the defaults; slow-s is the time spent in
// calls slower than 1 s, worst-s the slowest call. It takes 40 s per
// iteration:
//
//	go test -run '^$' -bench BlackHoleCalls -benchtime 1x ./client/
func BenchmarkBlackHoleCalls(b *testing.B) {
	for b.Loop() {
		c := realFleet(b)
		var slow, worst time.Duration
		for range 40 {
			start := time.Now()
			if _, err := c.GetSettings(context.Background()); err != nil {
				b.Fatal(err)
			}
			d := time.Since(start)
			if d > time.Second {
				slow += d
			}
			worst = max(worst, d)
			time.Sleep(time.Second - d%time.Second)
		}
		b.ReportMetric(slow.Seconds(), "slow-s")
		b.ReportMetric(worst.Seconds(), "worst-s")
	}
}

// TestRealBlackHoleAfterOutage: over real sockets, against [a host that
// accepts TCP and never answers, a regsim instance], the instance goes
// down (its port refuses) and the light turns red; when it comes back,
// the black hole, ejected during the outage, may return on probation. The
// user's calls still all succeed, and the black hole costs at most one of
// them before it is ejected again: probation is not a trial per call.
func TestRealBlackHoleAfterOutage(t *testing.T) {
	cl, err := regsim.Start(regsim.Config{Instances: 1, Users: 2}, regsim.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := newClient(t, Config{
		URLs:           []string{newBlackHole(t).url(), cl.URLs()[0]},
		Username:       "user0",
		Password:       regsim.DefaultPassword,
		HTTPClient:     &http.Client{Transport: tr},
		AttemptTimeout: time.Second, // the outage's calls wait this long on the black hole
		Seed:           5,
	})
	ctx := context.Background()
	if _, err := c.GetSettings(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Instance(0).SetFault(regsim.Fault{Down: true})
	for i := 0; c.State().Level != Red; i++ {
		if i == 10 {
			t.Fatalf("still %v after 10 calls with the instance down", c.State().Level)
		}
		_, _ = c.GetSettings(ctx)
	}
	cl.Instance(0).SetFault(regsim.Fault{})
	before := c.Stats().Endpoints[0].Requests
	for i := range 8 {
		if _, err := c.GetSettings(ctx); err != nil {
			t.Fatalf("call %d after the recovery: %v", i, err)
		}
	}
	if l := c.State().Level; l != Green {
		t.Errorf("state %v after the recovery, want Green", l)
	}
	bh := c.Stats().Endpoints[0]
	t.Logf("the black hole since the recovery: %d requests, ejected %v", bh.Requests-before, bh.Ejected)
	if n := bh.Requests - before; n > 2 || !bh.Ejected {
		t.Errorf("the black hole after 8 calls since the recovery: %d requests, %+v; want at most the recovering call's and one on probation, then ejected", n, bh)
	}
}
