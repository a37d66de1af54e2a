package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/regsim"
)

// The tests in this file are the SDK's two promises under faults desktops
// meet: nothing queued is lost or duplicated, and the light tells the truth.

const proxyPage = `<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body><h1>Access denied by proxy policy</h1></body></html>`

// htmlReply answers with an HTML page, as a proxy or captive portal does.
func htmlReply(status int) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		resp, err := reply(req, status, proxyPage)
		resp.Header.Set("Content-Type", "text/html")
		return resp, err
	}
}

// outboxClient is a logged-in client with a device and an in-memory outbox
// the test can inspect, on a cluster whose every host goes through rw.
func outboxClient(t *testing.T, cl *regsim.Cluster, conf func(*Config)) (*Client, *offline.Memory, *rewrite) {
	t.Helper()
	rw := newRewrite(cl.Transport())
	ob := offline.NewMemory(offline.MemoryOptions{})
	t.Cleanup(func() { ob.Close() })
	cfg := testConfig(cl, rw)
	cfg.Outbox = ob
	if conf != nil {
		conf(&cfg)
	}
	c := newClient(t, cfg)
	setup(t, c)
	return c, ob, rw
}

// allHosts applies fn (nil clears) to every endpoint of cl.
func allHosts(rw *rewrite, cl *regsim.Cluster, fn func(*http.Request) (*http.Response, error)) {
	for _, u := range cl.URLs() {
		rw.set(hostOf(u), fn)
	}
}

// refused is a dial error, as a host that is off gives.
func refused(*http.Request) (*http.Response, error) {
	return nil, errors.New("dial tcp: connect: connection refused")
}

// queueWhileRed sends n invitations from c to user1 while every host of cl
// refuses connections, and checks each was queued.
func queueWhileRed(t *testing.T, c *Client, cl *regsim.Cluster, rw *rewrite, n int) []Receipt {
	t.Helper()
	allHosts(rw, cl, refused)
	var rs []Receipt
	for i := range n {
		r, err := c.SendInvitation(context.Background(), Invitation{SpaceID: "42", Recipient: "user1", Payload: []byte{byte(i)}})
		if err != nil || !r.Queued {
			t.Fatalf("invitation %d while the server is unreachable: %+v, %v; want queued", i, r, err)
		}
		rs = append(rs, r)
	}
	if s := c.State(); s.Level != Red {
		t.Fatalf("after the outage: %v, want red", s.Level)
	}
	return rs
}

// invitationsTo counts the invitations stored for user, by payload byte.
func invitationsTo(cl *regsim.Cluster, user string) map[string]int {
	got := map[string]int{}
	for _, m := range cl.Messages(user) {
		got[m.Payload]++
	}
	return got
}

// TestProxyPageIsNotTheServer: ten invitations queued while Red; the network
// comes back behind a proxy that answers every request with an HTML 403 (or
// a 404 page, or a 407). Nothing is dead-lettered, the light stays Red, and
// once the proxy lets the requests through all ten arrive exactly once.
func TestProxyPageIsNotTheServer(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusProxyAuthRequired} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cl := newCluster(t, 2)
				c, ob, rw := outboxClient(t, cl, nil)
				ctx := context.Background()
				queueWhileRed(t, c, cl, rw, 10)

				allHosts(rw, cl, htmlReply(status))
				_, err := c.GetMessages(ctx, 10)
				if !errors.Is(err, ErrNotRegistrationServer) {
					t.Errorf("poll behind the proxy: %v, want ErrNotRegistrationServer", err)
				}
				if err := c.Probe(ctx); err == nil {
					t.Error("Probe behind the proxy succeeded")
				}
				time.Sleep(5 * time.Minute)
				synctest.Wait()
				if s := c.State(); s.Level != Red {
					t.Errorf("light behind the proxy: %v, want red", s.Level)
				}
				if dead, _ := ob.Dead(ctx); len(dead) != 0 {
					t.Fatalf("%d dead letters behind the proxy (first: %s), want 0", len(dead), dead[0].Reason)
				}
				if n, _ := ob.Len(ctx); n != 10 {
					t.Fatalf("%d pending behind the proxy, want 10", n)
				}

				allHosts(rw, cl, nil)
				if err := c.Probe(ctx); err != nil {
					t.Fatalf("Probe once the proxy lets requests through: %v", err)
				}
				time.Sleep(DefaultRecoverySpread + 10*time.Second)
				synctest.Wait()
				got := invitationsTo(cl, "user1")
				if len(got) != 10 {
					t.Fatalf("user1 received %d distinct invitations, want 10", len(got))
				}
				for p, n := range got {
					if n != 1 {
						t.Errorf("invitation %q received %d times", p, n)
					}
				}
			})
		})
	}
}

// TestPasswordChangedElsewhere: items wait while Red; meanwhile the password
// is changed on another device and the session expires. When the server is
// back the re-login is refused (-30101): the drain pauses with the reason in
// the state, nothing is buried, no further login is tried with the old
// password, and after SetCredentials everything is delivered once.
func TestPasswordChangedElsewhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl, err := regsim.NewCluster(regsim.Config{Instances: 2, Users: 4, SessionTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var logins atomic.Int32
		c, ob, rw := outboxClient(t, cl, func(cfg *Config) {
			cfg.OnCall = func(ci CallInfo) {
				if ci.Command == "loginuser" {
					logins.Add(1)
				}
			}
		})
		ctx := context.Background()
		queueWhileRed(t, c, cl, rw, 3)

		other := newClient(t, testConfig(cl, nil))
		if err := other.ChangePassword(ctx, regsim.DefaultPassword, "new-secret"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Hour) // c's session expires
		allHosts(rw, cl, nil)
		var seen []Problem
		unsub := c.Subscribe(func(s StateInfo) { seen = append(seen, s.Problem) })
		defer unsub()
		if err := c.Probe(ctx); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		time.Sleep(DefaultRecoverySpread + 10*time.Second)
		synctest.Wait()
		s := c.State()
		if s.Problem != ProblemCredentials || s.ProblemErr == nil {
			t.Fatalf("state after the refused login: problem %v (%v), want credentials", s.Problem, s.ProblemErr)
		}
		if s.Level != Green {
			t.Errorf("light after the refused login: %v, want green (the server answered)", s.Level)
		}
		if dead, _ := ob.Dead(ctx); len(dead) != 0 {
			t.Fatalf("%d dead letters after the refused login (%s), want 0", len(dead), dead[0].Reason)
		}
		if n, _ := ob.Len(ctx); n != 3 {
			t.Fatalf("%d pending, want 3", n)
		}
		before := logins.Load()
		for range 3 {
			c.drainer.kick()
			time.Sleep(time.Minute)
		}
		if r, err := c.SendInvitation(ctx, Invitation{SpaceID: "7", Recipient: "user1"}); err != nil || !r.Queued {
			t.Errorf("invitation while the password is wrong: %+v, %v; want queued", r, err)
		}
		synctest.Wait()
		if n := logins.Load() - before; n != 0 {
			t.Errorf("%d more logins with the rejected password, want 0", n)
		}

		if err := c.SetCredentials("user0", "new-secret"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(cl.Messages("user1")); n != 4 {
			t.Errorf("user1 has %d invitations after SetCredentials, want 4", n)
		}
		if s := c.State(); s.Problem != NoProblem {
			t.Errorf("problem after SetCredentials and a delivery: %v", s.Problem)
		}
		found := false
		for _, p := range seen {
			found = found || p == ProblemCredentials
		}
		if !found {
			t.Errorf("subscribers saw problems %v, want credentials among them", seen)
		}
	})
}

// TestSaltRotated: the server's salt changed (every call -30201): queued
// items are not blamed, the state says the configuration is at fault.
func TestSaltRotated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl, err := regsim.NewCluster(regsim.Config{Instances: 1, Users: 4, Salt: "new-salt"})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		c, ob, rw := outboxClient(t, cl, func(cfg *Config) { cfg.Salt = "new-salt" })
		ctx := context.Background()
		queueWhileRed(t, c, cl, rw, 3)
		c.cfg.Salt = "old-salt" // as if the server rotated its salt
		allHosts(rw, cl, nil)
		_ = c.Probe(ctx)
		_, _ = c.GetMessages(ctx, 1)
		time.Sleep(DefaultRecoverySpread + 10*time.Second)
		synctest.Wait()
		if dead, _ := ob.Dead(ctx); len(dead) != 0 {
			t.Fatalf("%d dead letters after the salt changed (%s), want 0", len(dead), dead[0].Reason)
		}
		if n, _ := ob.Len(ctx); n != 3 {
			t.Errorf("%d pending, want 3", n)
		}
		if s := c.State(); s.Problem != ProblemConfig {
			t.Errorf("problem %v, want config", s.Problem)
		}
		// The salt is put right (a fixed server) and the application,
		// which does not poll, sends once more: the drain resumes.
		c.cfg.Salt = "new-salt"
		if _, err := c.SendInvitation(ctx, Invitation{SpaceID: "42", Recipient: "user1"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if s := c.State(); s.Problem != NoProblem {
			t.Errorf("problem %v once the server accepts the checksum again, want none", s.Problem)
		}
		if n := len(cl.Messages("user1")); n != 4 {
			t.Errorf("user1 has %d invitations once the checksum is right again, want 4", n)
		}
	})
}

// lateReply is a route on which the server applies each request and then
// answers only after the caller's context has ended, while late is set: the
// reply is lost, the work is done.
type lateReply struct {
	base http.RoundTripper
	late atomic.Bool
}

func (l *lateReply) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil || !l.late.Load() {
		return resp, err
	}
	resp.Body.Close()
	<-req.Context().Done()
	return nil, req.Context().Err()
}

// TestDeadlineWhileServerApplies: the server applies the invitation and
// answers after the caller's deadline. The receipt keeps its idempotency
// key (queued under it), and the invitation arrives exactly once, not
// twice, however the application retries.
func TestDeadlineWhileServerApplies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		route := &lateReply{base: cl.Transport()}
		c, ob, _ := outboxClient(t, cl, func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: route} })
		route.late.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := c.SendInvitation(ctx, Invitation{SpaceID: "42", Recipient: "user1", Payload: []byte("x")})
		cancel()
		if err != nil || r.ID == "" || !r.Queued {
			t.Fatalf("SendInvitation whose reply came after the deadline: %+v, %v; want a queued receipt with its ID", r, err)
		}
		if n, _ := ob.Len(context.Background()); n != 1 {
			t.Fatalf("%d items queued, want 1", n)
		}
		route.late.Store(false)
		c.drainer.kick()
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(cl.Messages("user1")); n != 1 {
			t.Errorf("user1 has %d invitations, want exactly 1", n)
		}
		if n := cl.AppliedRequests(r.ID); n != 1 {
			t.Errorf("request %s applied %d times", r.ID, n)
		}
	})
}

// TestRestartDrainsAtOnce: a client that comes up Green (Unknown → Green)
// with items left from an earlier run drains them without waiting for a
// second poll.
func TestRestartDrainsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		ob := offline.NewMemory(offline.MemoryOptions{})
		defer ob.Close()
		if err := ob.Enqueue(context.Background(), offline.Item{ID: "left-over", Kind: "sendinvitation", Key: "space:42",
			Payload: []byte(`{"s":true,"f":[["spaceid","42"],["recipient","user1"],["payload","eA=="]]}`)}); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(cl, nil)
		cfg.Outbox = ob
		cfg.PollInterval = 5 * time.Minute
		c := newClient(t, cfg)
		setup(t, c)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := len(cl.Messages("user1")); n != 1 {
			t.Errorf("10 s after coming up green: user1 has %d invitations, want 1", n)
		}
	})
}

// TestClientOutbox: the Client's own outbox (the default in-memory one) is
// reachable to list, retry and discard.
func TestClientOutbox(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		rw := newRewrite(cl.Transport())
		c := newClient(t, testConfig(cl, rw))
		setup(t, c)
		queueWhileRed(t, c, cl, rw, 2)
		items, err := c.Outbox().Pending(context.Background())
		if err != nil || len(items) != 2 {
			t.Fatalf("Outbox().Pending: %d items, %v; want 2", len(items), err)
		}
		if err := c.Outbox().Discard(context.Background(), items[0].ID); err != nil {
			t.Fatal(err)
		}
		err = c.Close()
		if !errors.Is(err, offline.ErrNotKept) || !strings.Contains(err.Error(), " 1 pending") {
			t.Errorf("Close with one queued item in memory: %v, want an error naming the count", err)
		}
	})
}
