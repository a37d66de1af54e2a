package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// hostCounter counts the requests (API calls and health checks) per host.
type hostCounter struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (h *hostCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[r.URL.Host]++
	h.mu.Unlock()
	return h.base.RoundTrip(r)
}

func (h *hostCounter) reset() {
	h.mu.Lock()
	h.n = map[string]int{}
	h.mu.Unlock()
}

func (h *hostCounter) get(host string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[host]
}

// downAll takes every instance down and fails polls until the client is
// Red with every endpoint ejected, then lets ten minutes pass (every
// ejection has ended; no Retry-After holds).
func downAll(t *testing.T, c *Client, cl *regsim.Cluster) {
	t.Helper()
	for i := range cl.Len() {
		cl.Instance(i).SetFault(regsim.Fault{Down: true})
	}
	for range 3 {
		if _, err := c.GetMessages(context.Background(), 10); err == nil {
			t.Fatal("a poll succeeded with every instance down")
		}
	}
	if l := c.State().Level; l != Red {
		t.Fatalf("state %v with every instance down, want Red", l)
	}
	time.Sleep(10 * time.Minute)
}

// TestRecoveryThroughTheBackupKeepsFailedPrimariesOut: during an outage of
// every endpoint the backup comes back first. The poll that finds it tried
// both primaries first (panic mode: primaries first) and both refused a
// moment ago: they must not return to rotation on probation, the state
// must say the backup serves, and the user's next call must not be sent to
// a primary that just refused.
func TestRecoveryThroughTheBackupKeepsFailedPrimariesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		hc := &hostCounter{base: cl.Transport()}
		cfg := testConfig(cl, hc)
		cfg.URLs, cfg.BackupURLs = cl.URLs()[:2], cl.URLs()[2:]
		c := newClient(t, cfg)
		setup(t, c)
		downAll(t, c, cl)
		cl.Instance(2).SetFault(regsim.Fault{})
		hc.reset()
		if _, err := c.GetMessages(context.Background(), 10); err != nil {
			t.Fatalf("poll with the backup back: %v", err)
		}
		p0, p1 := hostOf(cl.Instance(0).URL()), hostOf(cl.Instance(1).URL())
		if hc.get(p0) == 0 || hc.get(p1) == 0 {
			t.Fatalf("the recovering poll did not try both primaries first (%d, %d requests)", hc.get(p0), hc.get(p1))
		}
		st := c.State()
		if st.Level != Green || st.Tier != TierBackup || st.Healthy != 1 {
			t.Errorf("state after the backup answered, the primaries having refused in the same call: %v tier %v healthy %d; want green, backup, 1", st.Level, st.Tier, st.Healthy)
		}
		hc.reset()
		if _, err := c.GetSettings(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := hc.get(p0) + hc.get(p1); n != 0 {
			t.Errorf("the user's next call went to the primaries that had just refused (%d requests)", n)
		}
	})
}

// TestProbeDoesNotReadmitWhatItsHealthCheckFailed: Probe after an outage of
// both instances, only the first back (and slow to answer). Its health
// check says ok and the state turns Green; the second's health check
// failed (refused at once, or no answer within AttemptTimeout): the
// second must not stay in rotation on probation, the next user calls
// must not be its trial.
func TestProbeDoesNotReadmitWhatItsHealthCheckFailed(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault regsim.Fault
	}{
		{"refused before the ok", regsim.Fault{Down: true}},
		{"no answer after the ok", regsim.Fault{Hang: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cl := newCluster(t, 2)
				c := newClient(t, testConfig(cl, nil))
				setup(t, c)
				downAll(t, c, cl)
				cl.Instance(0).SetFault(regsim.Fault{Latency: 100 * time.Millisecond})
				cl.Instance(1).SetFault(tt.fault)
				if err := c.Probe(context.Background()); err != nil {
					t.Fatalf("Probe with instance 0 back: %v", err)
				}
				time.Sleep(DefaultAttemptTimeout + time.Second) // every health check has finished
				synctest.Wait()
				if c.Stats().Endpoints[1].Healthy {
					t.Errorf("instance 1, whose health check failed, is in rotation: %+v", c.Stats().Endpoints[1])
				}
				cl.Instance(1).SetFault(regsim.Fault{Down: true}) // end the hang
			})
		})
	}
}

// TestRecoveryKeepsOutWhatWasEjectedBeforeTheOutage: instance 2 is dead
// and ejected, its probes failing, long before instances 0 and 1 go down
// too. When they come back, instance 2 must stay out: it was not ejected
// during the outage (the doc: "those ejected during it"), and readmitting
// it makes a user's call its trial after every Red (a laptop whose Wi-Fi
// drops turns Red often).
func TestRecoveryKeepsOutWhatWasEjectedBeforeTheOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		ctx := context.Background()
		cl.Instance(2).SetFault(regsim.Fault{Down: true})
		for i := 0; i < 30 && !c.Stats().Endpoints[2].Ejected; i++ {
			if _, err := c.GetSettings(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if !c.Stats().Endpoints[2].Ejected {
			t.Fatalf("instance 2, down, not ejected: %+v", c.Stats().Endpoints[2])
		}
		time.Sleep(30 * time.Minute) // its probes fail
		if l := c.State().Level; l != Green {
			t.Fatalf("state %v, want Green", l)
		}
		cl.Instance(0).SetFault(regsim.Fault{Down: true})
		cl.Instance(1).SetFault(regsim.Fault{Down: true})
		for range 3 {
			if _, err := c.GetMessages(ctx, 10); err == nil {
				t.Fatal("a poll succeeded with every instance down")
			}
		}
		if l := c.State().Level; l != Red {
			t.Fatalf("state %v, want Red", l)
		}
		time.Sleep(time.Minute)
		cl.Instance(0).SetFault(regsim.Fault{})
		cl.Instance(1).SetFault(regsim.Fault{})
		if _, err := c.GetMessages(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if l := c.State().Level; l != Green {
			t.Fatalf("state %v, want Green", l)
		}
		if c.Stats().Endpoints[2].Healthy {
			t.Errorf("instance 2, ejected and failing its probes since before the outage, is back in rotation after it")
		}
	})
}

// TestRecoveryDrainStartIsMonotonic: the drain's start after a recovery is
// computed from the last failure. Stored as Unix nanoseconds, that time
// has lost its monotonic reading, and so has the start (time.Add keeps
// none it has not got): time.Until then compares wall clocks, and a step
// of the wall clock back by an hour (NTP, the user) after the drain was
// armed defers it, and every kick after it, by that hour. (Not in a
// synctest bubble: its clock has no monotonic reading.)
func TestRecoveryDrainStartIsMonotonic(t *testing.T) {
	c := newClient(t, Config{URLs: []string{"http://127.0.0.1:1"}, RecoverySpread: time.Hour, Seed: 1})
	c.unreachable(errors.New("every endpoint failed"), time.Now())
	c.reached()
	c.drainer.mu.Lock()
	nb := c.drainer.notBefore
	c.drainer.mu.Unlock()
	if nb.IsZero() {
		t.Fatal("no drain was asked for after Red turned Green")
	}
	if !strings.Contains(nb.String(), " m=") {
		t.Errorf("the drain's start %v has no monotonic reading: it follows the wall clock's steps", nb)
	}
}

// TestConcurrentReachedReadmitsOnce: two calls find the server again at
// once; both saw Red. The first readmits the ejected endpoints and turns
// the state Green; one of them fails at once and is ejected again. The
// second's reached must not readmit it a second time: readmission belongs
// to the transition from Red, not to every call that saw Red.
func TestConcurrentReachedReadmitsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		downAll(t, c, cl)
		e := c.pool.all[1]
		release := make(chan struct{})
		first := true
		var mu sync.Mutex
		c.testHookReachedRed = func() {
			mu.Lock()
			wait := first
			first = false
			mu.Unlock()
			if wait {
				<-release
			}
		}
		done := make(chan struct{})
		go func() { c.reached(); close(done) }() // saw Red, waits in the hook
		synctest.Wait()
		c.reached() // readmits, Green
		if e.state.Load() != epHealthy {
			t.Fatal("endpoint 1 not readmitted on the recovery")
		}
		for range c.cfg.FailureThreshold {
			c.pool.failure(e, 0, true)
		}
		if e.state.Load() != epEjected {
			t.Fatal("endpoint 1 on probation not ejected again by a failure")
		}
		close(release)
		<-done
		if e.state.Load() != epEjected {
			t.Errorf("endpoint 1, ejected again after the recovery, readmitted by a second reached that had seen Red")
		}
	})
}

// TestBlackHoleOnProbationIsHedgedAndEjected: after an outage of every
// instance, instance 0 comes back, instance 1 accepts requests and never
// answers, instance 2 still refuses. Instance 1 returns to rotation on
// probation with the others; the user's calls that meet it are hedged
// within HedgeDelay, and the hedged-away attempt counts as its failure:
// it is ejected again after one call, not met by every third call.
func TestBlackHoleOnProbationIsHedgedAndEjected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		hc := &hostCounter{base: cl.Transport()}
		c := newClient(t, testConfig(cl, hc))
		setup(t, c)
		downAll(t, c, cl)
		cl.Instance(0).SetFault(regsim.Fault{})
		cl.Instance(1).SetFault(regsim.Fault{Hang: true})
		defer cl.Instance(1).SetFault(regsim.Fault{Down: true})
		ctx := context.Background()
		hc.reset()
		if _, err := c.GetMessages(ctx, 10); err != nil {
			t.Fatal(err)
		}
		bh := hostOf(cl.Instance(1).URL())
		if hc.get(bh) != 0 || !c.Stats().Endpoints[1].Healthy {
			t.Fatalf("precondition: the recovering poll should not have tried the black hole, which should be on probation (%d requests, %+v)", hc.get(bh), c.Stats().Endpoints[1])
		}
		hc.reset()
		slow := 0
		for i := range 12 {
			start := time.Now()
			if _, err := c.GetSettings(ctx); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			if d := time.Since(start); d > DefaultHedgeDelay/2 {
				slow++
				if d > DefaultHedgeDelay+100*time.Millisecond {
					t.Errorf("call %d took %s: not hedged within HedgeDelay", i, d)
				}
			}
		}
		if n := hc.get(bh); n > 1 || slow > 1 {
			t.Errorf("the black hole on probation got %d requests, %d calls were slow; want one of each at most", n, slow)
		}
		if !c.Stats().Endpoints[1].Ejected {
			t.Errorf("the black hole is not ejected again: %+v", c.Stats().Endpoints[1])
		}
	})
}
