package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// The tests in this file are about the user who waits: black holes, a
// server that asks to wait, a light that stays red, a Close that hangs.

// timedCalls makes n GetSettings calls, one per interval, each with
// deadline (0: none), and returns their durations and errors.
func timedCalls(c *Client, n int, interval, deadline time.Duration) ([]time.Duration, []error) {
	ds := make([]time.Duration, n)
	errs := make([]error, n)
	for i := range n {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if deadline > 0 {
			ctx, cancel = context.WithTimeout(ctx, deadline)
		}
		start := time.Now()
		_, errs[i] = c.GetSettings(ctx)
		ds[i] = time.Since(start)
		cancel()
		time.Sleep(interval - ds[i]%interval)
	}
	return ds, errs
}

// TestDeadlineShorterThanAttemptTimeout: with URLs [black hole, healthy]
// and callers' deadlines of 2 s (AttemptTimeout is 10 s), every call
// succeeds: each attempt gets a share of the time left, so the healthy
// endpoint gets its turn, and the black hole is ejected. Hedging is off
// here: the share alone must do it.
func TestDeadlineShorterThanAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		cfg := testConfig(cl, nil)
		cfg.HedgeDelay = -1
		c := newClient(t, cfg)
		setup(t, c)
		base := c.Stats().Endpoints[0].Requests
		cl.Instance(0).SetFault(regsim.Fault{Hang: true})
		ds, errs := timedCalls(c, 20, time.Second, 2*time.Second)
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d (%v): %v", i, ds[i], err)
			}
		}
		st := c.Stats().Endpoints[0]
		st.Requests -= base
		if !st.Ejected || st.Requests > DefaultFailureThreshold {
			t.Errorf("black hole: %+v; want ejected after at most %d attempts", st, DefaultFailureThreshold)
		}
		if s := c.State(); s.Level != Green {
			t.Errorf("light %v, want green", s.Level)
		}
	})
}

// TestBlackHolesDoNotStallUsers: 40 calls at 1/s with the defaults against
// [black hole, refused port, healthy]: no call waits more than 3 s, and the
// calls slower than 1 s take at most 3 s together (hedges after
// HedgeDelay, probes of the ejected endpoints off the users' path).
func TestBlackHolesDoNotStallUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		cl.Instance(0).SetFault(regsim.Fault{Hang: true})
		cl.Instance(1).SetFault(regsim.Fault{Down: true})
		ds, errs := timedCalls(c, 40, time.Second, 0)
		var slow, worst time.Duration
		for i, d := range ds {
			if errs[i] != nil {
				t.Errorf("call %d: %v", i, errs[i])
			}
			if d > time.Second {
				slow += d
			}
			worst = max(worst, d)
		}
		t.Logf("40 calls at 1/s against [black hole, refused, healthy]: slowest %v, %v in calls over 1 s; %+v", worst, slow, c.Stats())
		if worst > 3*time.Second {
			t.Errorf("slowest call %v, want at most 3 s", worst)
		}
		if slow > 3*time.Second {
			t.Errorf("%v spent in calls slower than 1 s, want at most 3 s", slow)
		}
	})
}

// TestRetryAfterHoldIsBounded: one 503 with Retry-After: 999999 on every
// endpoint. The error says how long the server asked to wait (capped at
// DefaultMaxRetryAfter), and the next user call still tries (panic mode)
// and succeeds once the server serves again.
func TestRetryAfterHoldIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		rw := newRewrite(cl.Transport())
		c := newClient(t, testConfig(cl, rw))
		setup(t, c)
		allHosts(rw, cl, func(req *http.Request) (*http.Response, error) {
			resp, err := reply(req, http.StatusServiceUnavailable, "busy")
			resp.Header.Set("Retry-After", "999999")
			return resp, err
		})
		_, err := c.GetSettings(context.Background())
		var ce *CallError
		if !errors.As(err, &ce) || ce.RetryAfter != DefaultMaxRetryAfter {
			t.Fatalf("call during the 503: %v; want a *CallError with RetryAfter %v", err, DefaultMaxRetryAfter)
		}
		allHosts(rw, cl, nil)
		time.Sleep(time.Second)
		if _, err := c.GetSettings(context.Background()); err != nil {
			t.Errorf("call 1 s later, the server serving again: %v; want it tried and served", err)
		}
	})
}

// TestProbeTurnsGreenNow: after a 40 s outage the poll loop backs off; the
// application's Probe (the network changed) turns the light green at once,
// and the outbox drains. Without Probe, the figure the defaults give is
// logged.
func TestProbeTurnsGreenNow(t *testing.T) {
	for _, probe := range []bool{false, true} {
		t.Run("probe="+strconv.FormatBool(probe), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cl := newCluster(t, 2)
				c := newClient(t, testConfig(cl, nil))
				setup(t, c)
				if err := c.StartPolling(context.Background(), func(context.Context, Message) {}); err != nil {
					t.Fatal(err)
				}
				for i := range cl.Len() {
					cl.Instance(i).SetFault(regsim.Fault{Down: true})
				}
				if !c.WaitForStateChange(context.Background(), Green) {
					t.Fatal("no state change")
				}
				time.Sleep(40 * time.Second)
				for i := range cl.Len() {
					cl.Instance(i).SetFault(regsim.Fault{})
				}
				back := time.Now()
				if probe {
					if err := c.Probe(context.Background()); err != nil {
						t.Fatalf("Probe with the server back: %v", err)
					}
					if s := c.State(); s.Level != Green {
						t.Fatalf("state right after Probe: %+v; want green", s)
					}
					synctest.Wait()
					if s := c.State(); s.Healthy != 2 {
						t.Fatalf("state once every probe ended: %+v; want 2 healthy", s)
					}
					return
				}
				// Without Probe the poll loop's backoff decides: at most
				// PollMaxInterval after the server is back.
				ctx, cancel := context.WithTimeout(context.Background(), DefaultPollMaxInterval)
				defer cancel()
				if !c.WaitForStateChange(ctx, Red) || c.State().Level != Green {
					t.Fatalf("still %v %v after the server came back", c.State().Level, time.Since(back))
				}
				t.Logf("defaults, 2 endpoints, 40 s outage: green %v after the server came back", time.Since(back))
			})
		})
	}
}

// TestSubscribersSeeHealthy: a "degraded" indicator built on Subscribe
// sees the healthy count fall when an endpoint is ejected and rise when
// its probe finds it back; State().Healthy agrees with Stats().
func TestSubscribersSeeHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		var seen []int
		unsub := c.Subscribe(func(s StateInfo) { seen = append(seen, s.Healthy) })
		defer unsub()
		cl.Instance(1).SetFault(regsim.Fault{Down: true})
		for range 10 {
			_, _ = c.GetSettings(context.Background())
		}
		synctest.Wait()
		if s := c.State(); s.Healthy != 2 {
			t.Errorf("State().Healthy %d with one endpoint ejected, want 2", s.Healthy)
		}
		cl.Instance(1).SetFault(regsim.Fault{})
		time.Sleep(DefaultMaxEjectionTime)
		synctest.Wait()
		healthy := 0
		for _, e := range c.Stats().Endpoints {
			if e.Healthy {
				healthy++
			}
		}
		if s := c.State(); s.Healthy != 3 || healthy != 3 {
			t.Errorf("State().Healthy %d, Stats %d after the endpoint is back, want 3", s.Healthy, healthy)
		}
		want := []int{3, 2, 3}
		if len(seen) < 3 || seen[len(seen)-2] != 2 || seen[len(seen)-1] != 3 {
			t.Errorf("subscriber saw healthy counts %v, want them to end %v", seen, want)
		}
	})
}

// Test429IsReachable: a 429 storm keeps the light green (the server
// answered: slow down) and ejects nothing; a load balancer whose instances
// are all down (503) is red.
func Test429IsReachable(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   State
	}{{http.StatusTooManyRequests, Green}, {http.StatusServiceUnavailable, Red}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cl := newCluster(t, 1) // one URL, as a load balancer's
				rw := newRewrite(cl.Transport())
				c := newClient(t, testConfig(cl, rw))
				setup(t, c)
				allHosts(rw, cl, func(req *http.Request) (*http.Response, error) { return reply(req, tc.status, "") })
				for range 10 {
					if _, err := c.GetSettings(context.Background()); err == nil {
						t.Fatal("call succeeded")
					}
					time.Sleep(time.Second)
				}
				if s := c.State(); s.Level != tc.want {
					t.Errorf("light after HTTP %d: %v, want %v", tc.status, s.Level, tc.want)
				}
			})
		})
	}
}

// TestCloseIsPrompt: Close cancels a call in flight (it returns ErrClosed
// at once, not at its attempt timeout), wakes WaitForStateChange with
// Shutdown, and returns although a subscriber's callback blocks.
func TestCloseIsPrompt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		release := make(chan struct{})
		var calls atomic.Int32
		c.Subscribe(func(StateInfo) {
			if calls.Add(1) == 1 {
				<-release
			}
		})
		cl.Instance(0).SetFault(regsim.Fault{Hang: true})
		callErr := make(chan error, 1)
		go func() { _, err := c.GetSettings(context.Background()); callErr <- err }()
		waitErr := make(chan State, 1)
		go func() {
			c.WaitForStateChange(context.Background(), Green)
			waitErr <- c.State().Level
		}()
		synctest.Wait()
		start := time.Now()
		c.Close()
		if err := <-callErr; !errors.Is(err, ErrClosed) {
			t.Errorf("call in flight at Close: %v, want ErrClosed", err)
		}
		if s := <-waitErr; s != Shutdown {
			t.Errorf("WaitForStateChange after Close saw %v, want shutdown", s)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("Close and the canceled call took %v of (fake) time, want none", d)
		}
		close(release)
	})
}
