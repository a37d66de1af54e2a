package client

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// recoveryLog records, from Config.OnCall and the wire, what a fleet did
// around an outage.
type recoveryLog struct {
	mu     sync.Mutex
	polls  []time.Time // getmessages calls, by start
	health int         // GET /healthz requests put on the wire
}

func (l *recoveryLog) onCall(ci CallInfo) {
	if ci.Command != "getmessages" {
		return
	}
	l.mu.Lock()
	l.polls = append(l.polls, ci.Start)
	l.mu.Unlock()
}

func (l *recoveryLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return rtFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodGet && r.URL.Path == healthPath {
			l.mu.Lock()
			l.health++
			l.mu.Unlock()
		}
		return rt.RoundTrip(r)
	})
}

// healthChecks is the number of health checks so far.
func (l *recoveryLog) healthChecks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health
}

// pollsIn counts the polls that started in [from, to).
func (l *recoveryLog) pollsIn(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.polls {
		if !s.Before(from) && s.Before(to) {
			n++
		}
	}
	return n
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRecoveryOfAFleet: 300 clients polling every 30 s, every instance down
// for 60 s. What the operator and the users see:
//   - the probes while Red come at the steady poll rate, not faster (full
//     jitter halved the mean wait), and not as a burst when the server
//     returns;
//   - every light is green within 40 s of the recovery (it was 84 s with
//     a backoff that had grown towards two minutes);
//   - no health check is sent: the endpoints come back on probation;
//   - every invitation queued while Red is delivered within
//     RecoverySpread of the recovery, however late its client noticed it.
func TestRecoveryOfAFleet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const clients = 300
		const poll = 30 * time.Second
		const spread = time.Minute
		cl, err := regsim.NewCluster(regsim.Config{Instances: 3, Users: clients, PollInterval: poll})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		log := &recoveryLog{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cs := pollingFleet(ctx, t, cl, clients, func(c *Config) {
			c.PollInterval = poll
			c.RecoverySpread = spread
			c.OnCall = log.onCall
			c.HTTPClient = &http.Client{Transport: log.wrap(cl.Transport())}
		})
		time.Sleep(2 * poll)
		steadyStart := time.Now()
		time.Sleep(2 * poll)
		steady := float64(log.pollsIn(steadyStart, time.Now())) / (2 * poll).Seconds()

		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{Down: true})
		}
		down := time.Now()
		time.Sleep(poll + poll/5) // every client has polled once since: Red
		for i, c := range cs {
			if _, err := c.SendInvitation(ctx, Invitation{SpaceID: "s", Recipient: "user0", Payload: []byte{byte(i)}}); err != nil {
				t.Fatalf("client %d: queue an invitation while Red: %v", i, err)
			}
		}
		for i, c := range cs {
			if l := c.State().Level; l != Red {
				t.Fatalf("client %d is %v 36 s into the outage", i, l)
			}
		}
		time.Sleep(time.Until(down.Add(time.Minute)))
		secondHalf := float64(log.pollsIn(down.Add(30*time.Second), time.Now())) / 30
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{})
		}
		back := time.Now()
		healthAtRecovery := log.healthChecks()

		time.Sleep(10 * time.Second)
		first10 := float64(log.pollsIn(back, time.Now())) / 10
		t.Logf("polls per second: steady %.1f, second half of the outage %.1f, first 10 s after it %.1f", steady, secondHalf, first10)
		if secondHalf > 1.3*steady {
			t.Errorf("probes while Red at %.1f/s, want about the steady poll rate %.1f/s", secondHalf, steady)
		}
		if first10 > 1.3*steady {
			t.Errorf("polls in the first 10 s after the recovery at %.1f/s: a burst over the steady %.1f/s", first10, steady)
		}

		time.Sleep(30 * time.Second) // 40 s after the recovery
		for i, c := range cs {
			if l := c.State().Level; l != Green {
				t.Errorf("client %d still %v 40 s after a 60 s outage", i, l)
			}
		}
		time.Sleep(time.Until(back.Add(spread + 2*time.Second)))
		for i, c := range cs {
			if n, _ := c.Outbox().Len(ctx); n != 0 {
				t.Errorf("client %d still holds %d queued invitations %s after the recovery (spread %s)", i, n, time.Since(back), spread)
			}
		}
		if got := len(cl.Messages("user0")); got != clients {
			t.Errorf("user0 has %d invitations, want %d", got, clients)
		}
		if n := log.healthChecks() - healthAtRecovery; n != 0 {
			t.Errorf("%d health checks after the recovery, want none (the endpoints return on probation)", n)
		}
	})
}

// TestProbationAfterRecovery: after an outage of every instance, a poll
// finds the server again. The client turns Green and puts the other
// endpoints back in rotation without a health check:
//   - when all came back, the next calls go round robin over all three at
//     once (they used to wait, ejected, for a probe each);
//   - when only the first came back, the user's calls still succeed, each
//     dead instance costs at most one failed attempt before it is ejected
//     again, and then every call goes to the live one; the dead ones are
//     probed when those ejections end.
func TestProbationAfterRecovery(t *testing.T) {
	for _, tt := range []struct {
		name string
		back []int // instances that come back
	}{
		{"all back", []int{0, 1, 2}},
		{"one back", []int{0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cl, err := regsim.NewCluster(regsim.Config{Instances: 3, Users: 2})
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				log := &recoveryLog{}
				var mu sync.Mutex
				tried := map[string]int{} // attempts per instance after the recovery
				counting := false
				rt := log.wrap(cl.Transport())
				c := newClient(t, testConfig(cl, rtFunc(func(r *http.Request) (*http.Response, error) {
					mu.Lock()
					if counting && r.Method == http.MethodPost {
						tried[r.URL.Host]++
					}
					mu.Unlock()
					return rt.RoundTrip(r)
				})))
				setup(t, c)
				ctx := context.Background()
				for i := range cl.Len() {
					cl.Instance(i).SetFault(regsim.Fault{Down: true})
				}
				for range 3 {
					if _, err := c.GetMessages(ctx, 10); err == nil {
						t.Fatal("a poll succeeded with every instance down")
					}
				}
				if l := c.State().Level; l != Red {
					t.Fatalf("state %v with every instance down, want Red", l)
				}
				time.Sleep(10 * time.Minute) // the ejections have ended; no Retry-After holds
				for _, i := range tt.back {
					cl.Instance(i).SetFault(regsim.Fault{})
				}
				health := log.healthChecks()
				if _, err := c.GetMessages(ctx, 10); err != nil {
					t.Fatalf("poll with %v back: %v", tt.back, err)
				}
				if l := c.State().Level; l != Green {
					t.Fatalf("state %v after a poll succeeded, want Green", l)
				}
				mu.Lock()
				counting = true
				mu.Unlock()
				const calls = 12
				for i := range calls {
					if _, err := c.SendInvitation(ctx, Invitation{SpaceID: "s", Recipient: "user1", Payload: []byte{byte(i)}}); err != nil {
						t.Fatalf("invitation %d with %v serving: %v", i, tt.back, err)
					}
				}
				time.Sleep(time.Minute)
				mu.Lock()
				defer mu.Unlock()
				live := map[string]bool{}
				for _, i := range tt.back {
					live[hostOf(cl.Instance(i).URL())] = true
				}
				for i := range cl.Len() {
					host := hostOf(cl.Instance(i).URL())
					n := tried[host]
					switch {
					case live[host] && len(tt.back) == cl.Len() && n < calls/cl.Len()-1:
						t.Errorf("instance %d, back, got %d of %d invitations: not back in rotation", i, n, calls)
					case !live[host] && n > 1:
						t.Errorf("instance %d, still down, was tried %d times; want at most once before it is ejected again", i, n)
					}
				}
				if n := log.healthChecks() - health; n != 0 && len(tt.back) == cl.Len() {
					// (Those still down are probed when their new
					// ejections end, as any ejected endpoint is.)
					t.Errorf("%d health checks in the minute after the recovery, want none", n)
				}
				if got := len(cl.Messages("user1")); got != calls {
					t.Errorf("user1 has %d invitations, want %d", got, calls)
				}
			})
		})
	}
}

// TestProbesKeepTheServerFloor: the server asked for polls 30 s apart
// (<pollinterval>) and the application polls every 10 s. While the server
// is down the poll loop probes no faster than 30 s apart either (the
// protocol: clients never poll faster than the server's wish), and after
// two minutes of outage the probes are a minute or more apart, half the outage.
func TestProbesKeepTheServerFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl, err := regsim.NewCluster(regsim.Config{Instances: 2, Users: 1, PollInterval: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		log := &recoveryLog{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pollingFleet(ctx, t, cl, 1, func(c *Config) {
			c.PollInterval = 10 * time.Second
			c.OnCall = log.onCall
		})
		time.Sleep(2 * time.Minute)
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{Down: true})
		}
		down := time.Now()
		time.Sleep(6 * time.Minute)
		log.mu.Lock()
		defer log.mu.Unlock()
		var probes []time.Time
		for _, s := range log.polls {
			if s.After(down) {
				probes = append(probes, s)
			}
		}
		if len(probes) < 3 {
			t.Fatalf("%d probes in 6 minutes of outage", len(probes))
		}
		late := 0 // probes checked for the growth
		for i := 1; i < len(probes); i++ {
			gap := probes[i].Sub(probes[i-1])
			if gap < 30*time.Second {
				t.Errorf("probes %d and %d %s apart, under the server's 30 s", i-1, i, gap)
			}
			if since := probes[i-1].Sub(down); since > 2*time.Minute {
				late++
			}
			if since := probes[i-1].Sub(down); since > 2*time.Minute && gap < 55*time.Second {
				t.Errorf("probe %d %s into the outage came %s after the one before, want about half the outage", i, since, gap)
			}
		}
		if late == 0 {
			t.Errorf("no probe two minutes into the outage followed by another: %v", probes)
		}
	})
}
