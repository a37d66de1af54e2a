package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// TestConcurrentFailoverToBackupAwaitingTrial: after an outage of both
// tiers, the recovered primary takes every call and the backup waits for
// its trial call. When the primary then dies, two calls at once fail over:
// the first takes the backup's trial; the second must not fail (and turn
// the light Red) because the backup's trial is busy, since the backup is
// the only endpoint left to try (panic mode tries it too).
func TestConcurrentFailoverToBackupAwaitingTrial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		urls := cl.URLs()
		cfg := testConfig(cl, nil)
		cfg.URLs, cfg.BackupURLs = urls[:1], urls[1:]
		c := newClient(t, cfg)
		setup(t, c)
		ctx := context.Background()
		poll := func() error { _, err := c.GetMessages(ctx, 10); return err }

		// Both tiers down until both endpoints are ejected.
		cl.Instance(0).SetFault(regsim.Fault{Down: true})
		cl.Instance(1).SetFault(regsim.Fault{Down: true})
		for range 4 {
			_ = poll()
		}
		if s := c.State(); s.Level != Red || s.Healthy != 0 {
			t.Fatalf("after the outage: %+v, want Red with no healthy endpoint", s)
		}
		// Both back; once the ejections end, the primary's trial succeeds.
		cl.Instance(0).SetFault(regsim.Fault{})
		cl.Instance(1).SetFault(regsim.Fault{})
		time.Sleep(2 * DefaultMaxEjectionTime)
		if err := poll(); err != nil {
			t.Fatalf("first call after the outage: %v", err)
		}
		if s := c.State(); s.Level != Green || s.Tier != TierPrimary {
			t.Fatalf("after recovery: %+v, want Green on the primary", s)
		}

		// The primary dies; the backup answers, slowly enough that its
		// trial call is still under way when the second call fails over.
		cl.Instance(0).SetFault(regsim.Fault{Down: true})
		cl.Instance(1).SetFault(regsim.Fault{Latency: 500 * time.Millisecond})
		var red bool
		unsubscribe := c.Subscribe(func(s StateInfo) {
			if s.Level == Red {
				red = true
			}
		})
		defer unsubscribe()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { errs[i] = poll() })
		}
		wg.Wait()
		synctest.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d during the failover: %v", i, err)
			}
		}
		if red {
			t.Error("the light turned Red although the backup answered")
		}
	})
}

// failOnce fails the first request with a reset connection, as a load
// balancer restarting under a client does, and passes the rest through.
type failOnce struct {
	base   http.RoundTripper
	failed atomic.Bool
}

func (f *failOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.failed.CompareAndSwap(false, true) {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return f.base.RoundTrip(r)
}

// TestSingleURLRetriesTheSameEndpoint: a client with one URL (a load
// balancer's) retries it after a transient failure instead of failing the
// call and turning Red.
func TestSingleURLRetriesTheSameEndpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		rt := &failOnce{base: cl.Transport()}
		c := newClient(t, testConfig(cl, rt))
		setup(t, c)
		rt.failed.Store(false)
		before := cl.Counters().RequestsByInstance[0]
		retries := c.Stats().Retries
		if _, err := c.GetSettings(context.Background()); err != nil {
			t.Fatalf("GetSettings after one reset: %v", err)
		}
		if n := cl.Counters().RequestsByInstance[0] - before; n != 1 {
			t.Errorf("instance served %d requests, want 1 (the retry)", n)
		}
		if s := c.State(); s.Level != Green {
			t.Errorf("state %v after a retried reset, want Green", s.Level)
		}
		if n := c.Stats().Retries - retries; n != 1 {
			t.Errorf("retries = %d, want 1", n)
		}
	})
}

// TestLoginProbesWhenNotPolling: a client that went Red before it could
// start polling (its first login failed on every endpoint) has no recovery
// probe, so its next Login goes to the network instead of failing with
// ErrOffline forever, and turns the light Green once it gets through.
func TestLoginProbesWhenNotPolling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		c := newClient(t, testConfig(cl, nil))
		ctx := context.Background()
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{Down: true})
		}
		if _, err := c.Login(ctx); err == nil || errors.Is(err, ErrOffline) {
			t.Fatalf("first login with the cluster down: %v, want a network failure", err)
		}
		if s := c.State(); s.Level != Red {
			t.Fatalf("state %v after the failed login, want Red", s.Level)
		}
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{})
		}
		time.Sleep(2 * DefaultMaxEjectionTime)
		if _, err := c.Login(ctx); err != nil {
			t.Fatalf("login after the cluster came back: %v", err)
		}
		if s := c.State(); s.Level != Green {
			t.Errorf("state %v after a successful login, want Green", s.Level)
		}
	})
}

// TestLoginWaitHonoursDeadline: while one goroutine's login hangs on the
// network, another call that needs a session gives up at its own deadline
// instead of waiting for that login.
func TestLoginWaitHonoursDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		c := newClient(t, testConfig(cl, nil))
		cl.Instance(0).SetFault(regsim.Fault{Hang: true})
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { _, _ = c.Login(context.Background()) })
		synctest.Wait() // the first login is on the network, hanging
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.GetSettings(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("GetSettings behind a hanging login: %v, want the deadline", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("waited %s, want exactly the 1s deadline", waited)
		}
		cl.Instance(0).SetFault(regsim.Fault{}) // release the first login
	})
}
