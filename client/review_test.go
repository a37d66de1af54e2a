package client

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// TestHedgeErrorDoesNotWin: the first endpoint answers, slower than
// HedgeDelay; the hedge's endpoint answers 503 at once. The slow reply
// wins, the light stays green, and the slow endpoint is not blamed.
func TestHedgeErrorDoesNotWin(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		synctest.Test(t, func(t *testing.T) {
			cl := newCluster(t, 2)
			cfg := testConfig(cl, nil)
			cfg.Seed = seed
			c := newClient(t, cfg)
			setup(t, c)
			cl.Instance(0).SetFault(regsim.Fault{Latency: 2 * time.Second})
			cl.Instance(1).SetFault(regsim.Fault{Unavailable: true})
			for i := range 4 {
				if _, err := c.GetSettings(context.Background()); err != nil {
					t.Fatalf("seed %d, call %d: %v", seed, i, err)
				}
			}
			if s := c.State(); s.Level != Green {
				t.Errorf("seed %d: light %v, want green", seed, s.Level)
			}
			if e := c.Stats().Endpoints[0]; !e.Healthy {
				t.Errorf("seed %d: the slow endpoint that answered was ejected: %+v", seed, e)
			}
		})
	}
}

// TestNoHedgeWithoutRequestID: sendpassword carries no requestid, so a slow
// server gets it once, not once per endpoint (two temporary passwords).
func TestNoHedgeWithoutRequestID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		c := newClient(t, testConfig(cl, nil))
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{Latency: 2 * time.Second})
		}
		if err := c.SendPassword(context.Background(), "user0"); err != nil {
			t.Fatal(err)
		}
		if n := cl.Counters().TemporaryPasswordsSent; n != 1 {
			t.Errorf("%d temporary passwords sent for one call, want 1", n)
		}
	})
}

// TestTooLargeIsTheItemsProblem: a 413 for one invitation is that item's
// fault: it fails, and the account and configuration are not blamed.
func TestTooLargeIsTheItemsProblem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		rw := newRewrite(cl.Transport())
		c := newClient(t, testConfig(cl, rw))
		setup(t, c)
		allHosts(rw, cl, func(req *http.Request) (*http.Response, error) {
			return reply(req, http.StatusRequestEntityTooLarge, "too large")
		})
		if _, err := c.SendInvitation(context.Background(), Invitation{SpaceID: "1", Recipient: "user1"}); err == nil {
			t.Error("an invitation the server finds too large succeeded")
		}
		if s := c.State(); s.Problem != NoProblem {
			t.Errorf("problem %v after one item's 413, want none", s.Problem)
		}
	})
}

// TestSubscribersSeeShutdown: Close delivers Shutdown to subscribers.
func TestSubscribersSeeShutdown(t *testing.T) {
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			cl := newCluster(t, 1)
			c := newClient(t, testConfig(cl, nil))
			var last atomic.Int32
			c.Subscribe(func(s StateInfo) { last.Store(int32(s.Level)) })
			synctest.Wait()
			c.Close()
			synctest.Wait()
			if s := State(last.Load()); s != Shutdown {
				t.Fatalf("the subscriber's last state %v, want shutdown", s)
			}
		})
	}
}
