package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/regsim"
)

func TestConfigValidation(t *testing.T) {
	good := func() Config { return Config{URLs: []string{"http://a.test", "https://b.test/prefix"}} }
	cases := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"no URLs", func(c *Config) { c.URLs = nil }, "Config.URLs"},
		{"ftp URL", func(c *Config) { c.URLs[1] = "ftp://b.test" }, "Config.URLs[1]"},
		{"no host", func(c *Config) { c.URLs[0] = "http://" }, "Config.URLs[0]"},
		{"userinfo", func(c *Config) { c.URLs[0] = "http://u:p@a.test" }, "Config.URLs[0]"},
		{"query", func(c *Config) { c.URLs[0] = "http://a.test/?x=1" }, "Config.URLs[0]"},
		{"duplicate", func(c *Config) { c.URLs[1] = "HTTP://A.test/" }, "Config.URLs[1]"},
		{"duplicate backup", func(c *Config) { c.BackupURLs = []string{"http://a.test"} }, "Config.BackupURLs[0]"},
		{"bad backup", func(c *Config) { c.BackupURLs = []string{"mailto:x"} }, "Config.BackupURLs[0]"},
		{"jitter above 1", func(c *Config) { c.PollJitter = 1.5 }, "Config.PollJitter"},
		{"jitter negative", func(c *Config) { c.PollJitter = -0.1 }, "Config.PollJitter"},
		{"budget above 1", func(c *Config) { c.RetryBudget = 2 }, "Config.RetryBudget"},
		{"negative interval", func(c *Config) { c.PollInterval = -time.Second }, "Config.PollInterval"},
		{"max below interval", func(c *Config) { c.PollInterval = time.Hour; c.PollMaxInterval = time.Minute }, "Config.PollMaxInterval"},
		{"wait max below min", func(c *Config) { c.RetryWaitMin = time.Second; c.RetryWaitMax = time.Millisecond }, "Config.RetryWaitMax"},
		{"ejection max below base", func(c *Config) { c.EjectionTime = time.Hour; c.MaxEjectionTime = time.Minute }, "Config.MaxEjectionTime"},
		{"negative threshold", func(c *Config) { c.FailureThreshold = -1 }, "Config.FailureThreshold"},
		{"negative attempts", func(c *Config) { c.MaxAttempts = -1 }, "Config.MaxAttempts"},
		{"password without user", func(c *Config) { c.Password = "x" }, "Config.Username"},
		{"negative drain rate", func(c *Config) { c.DrainRate = -1 }, "Config.DrainRate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good()
			tc.mod(&cfg)
			c, err := New(cfg)
			if err == nil {
				c.Close()
				t.Fatal("New accepted a bad config")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.field+":") {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}
	c, err := New(good())
	if err != nil {
		t.Fatalf("good config rejected: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.GetSettings(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
}

func TestRoundRobinEven(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		before := cl.Counters().RequestsByInstance
		ctx := context.Background()
		for i := range 3000 {
			if _, err := c.GetSettings(ctx); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		after := cl.Counters().RequestsByInstance
		for i := range after {
			n := after[i] - before[i]
			if n < 999 || n > 1001 {
				t.Errorf("instance %d served %d calls, want 1000±1", i, n)
			}
		}
		if s := c.State(); s.Level != Green || s.Tier != TierPrimary || s.Healthy != 3 {
			t.Errorf("state %+v, want green/primary/3 healthy", s)
		}
	})
}

func TestOneInstanceFailing(t *testing.T) {
	cases := []struct {
		name  string
		fault func(cl *regsim.Cluster, rw *rewrite)
		first int64 // attempts before the first ejection
	}{
		{"down", func(cl *regsim.Cluster, _ *rewrite) { cl.Instance(1).SetFault(regsim.Fault{Down: true}) }, DefaultFailureThreshold},
		{"hang", func(cl *regsim.Cluster, _ *rewrite) { cl.Instance(1).SetFault(regsim.Fault{Hang: true}) }, DefaultFailureThreshold},
		{"unavailable", func(cl *regsim.Cluster, _ *rewrite) {
			cl.Instance(1).SetFault(regsim.Fault{Unavailable: true, RetryAfter: time.Second})
		}, 1},
		{"server error", func(cl *regsim.Cluster, _ *rewrite) { cl.Instance(1).SetFault(regsim.Fault{ErrorRate: 1}) }, DefaultFailureThreshold},
		{"dbdown", func(cl *regsim.Cluster, rw *rewrite) {
			rw.set(hostOf(cl.URLs()[1]), func(r *http.Request) (*http.Response, error) { return reply(r, 200, dbDownReply) })
		}, DefaultFailureThreshold},
		{"oversized reply", func(cl *regsim.Cluster, rw *rewrite) {
			rw.set(hostOf(cl.URLs()[1]), func(r *http.Request) (*http.Response, error) {
				return reply(r, 200, "<teamdrive><x>"+strings.Repeat("a", wire.MaxBodySize)+"</x></teamdrive>")
			})
		}, DefaultFailureThreshold},
		{"captive portal", func(cl *regsim.Cluster, rw *rewrite) {
			rw.set(hostOf(cl.URLs()[1]), func(r *http.Request) (*http.Response, error) {
				return reply(r, 200, "<html><body>Please log in to the hotel wifi</body></html>")
			})
		}, DefaultFailureThreshold},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cl := newCluster(t, 3)
				rw := newRewrite(cl.Transport())
				cfg := testConfig(cl, rw)
				cfg.AttemptTimeout = 2 * time.Second
				c := newClient(t, cfg)
				setup(t, c)
				base := c.Stats().Endpoints[1].Requests
				tc.fault(cl, rw)
				ctx := context.Background()
				const calls = 600
				for i := range calls {
					if _, err := c.GetSettings(ctx); err != nil {
						t.Fatalf("call %d failed: %v", i, err)
					}
					time.Sleep(500 * time.Millisecond) // 5 minutes in all
				}
				st := c.Stats()
				bad := st.Endpoints[1]
				bad.Requests -= base
				if bad.Ejections < 2 || bad.Probes < 1 {
					t.Fatalf("dead endpoint: %+v; want repeated ejections and probes", bad)
				}
				// Before the first ejection it took its round-robin share until
				// the threshold; afterwards no user's call, only probes off
				// the users' path.
				if bad.Requests != tc.first {
					t.Errorf("dead endpoint got %d attempts, want %d (its share before the ejection)", bad.Requests, tc.first)
				}
				if bad.Probes > bad.Ejections {
					t.Errorf("%d probes for %d ejections", bad.Probes, bad.Ejections)
				}
				if s := c.State(); s.Level != Green || s.Healthy != 2 {
					t.Errorf("state %+v, want green with 2 healthy", s)
				}
				if st.Endpoints[0].Requests < calls/3 || st.Endpoints[2].Requests < calls/3 {
					t.Errorf("healthy endpoints underused: %+v", st.Endpoints)
				}
			})
		})
	}
}

func TestAllDownThenRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var handled []string
		if err := c.StartPolling(ctx, func(_ context.Context, m Message) { handled = append(handled, m.ID) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{Down: true})
		}

		_, err := c.GetSettings(ctx)
		var ce *CallError
		if !errors.As(err, &ce) || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("all down: got %v, want *CallError", err)
		}
		for _, u := range cl.URLs() {
			if !strings.Contains(err.Error(), u) {
				t.Errorf("error %q does not name %s", err, u)
			}
		}
		if ce.Attempts != 3 || len(ce.Endpoints) != 3 || strings.Count(err.Error(), "refused") < 3 {
			t.Errorf("error %q: want 3 attempts on 3 endpoints, each with its cause", err)
		}
		if s := c.State(); s.Level != Red || !errors.Is(s.LastErr, ErrUnavailable) {
			t.Fatalf("state %+v, want red", s)
		}

		// Subscribers from here on see the current Red first.
		type seen struct{ transitions, redToGreen int }
		var subs [2]seen
		var last [2]State
		for i := range subs {
			i := i
			c.Subscribe(func(s StateInfo) {
				if s.Level != last[i] {
					subs[i].transitions++
					if last[i] == Red && s.Level == Green {
						subs[i].redToGreen++
					}
					last[i] = s.Level
				}
			})
		}

		attempts := c.Stats().Attempts
		if err := c.ChangePassword(ctx, regsim.DefaultPassword, "new"); !errors.Is(err, ErrOffline) {
			t.Errorf("online-only call while red: %v, want ErrOffline", err)
		}
		if _, err := c.Login(ctx); !errors.Is(err, ErrOffline) {
			t.Errorf("login while red: %v, want ErrOffline", err)
		}
		if _, err := c.GetSettings(ctx); !errors.Is(err, ErrOffline) {
			t.Errorf("getsettings while red: %v, want ErrOffline", err)
		}
		var receipts []Receipt
		for i := range 3 {
			r, err := c.SendInvitation(ctx, Invitation{SpaceID: "s1", Recipient: "user1", Payload: []byte{byte(i)}})
			if err != nil || !r.Queued || r.ID == "" {
				t.Fatalf("invitation while red: %+v, %v; want a queued receipt", r, err)
			}
			receipts = append(receipts, r)
		}
		if got := c.Stats().Attempts; got != attempts {
			t.Errorf("%d requests sent while red by online-only and queueable calls, want 0", got-attempts)
		}

		time.Sleep(time.Minute)
		pollsBefore := cl.Counters().Requests[wire.CmdGetMessages]
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{})
		}
		for i := 0; i < 120 && cl.Counters().InvitationsStored < 3; i++ {
			time.Sleep(10 * time.Second)
		}
		// Let polling run a few more rounds.
		time.Sleep(2 * time.Minute)
		synctest.Wait()

		k := cl.Counters()
		if k.InvitationsStored != 3 {
			t.Fatalf("%d invitations stored, want 3", k.InvitationsStored)
		}
		for _, r := range receipts {
			if n := cl.AppliedRequests(r.ID); n != 1 {
				t.Errorf("invitation %s applied %d times, want 1", r.ID, n)
			}
		}
		if s := c.State(); s.Level != Green {
			t.Errorf("state %+v after recovery, want green", s)
		}
		for i, s := range subs {
			if s.redToGreen != 1 || s.transitions != 2 {
				t.Errorf("subscriber %d saw %d Red→Green in %d transitions, want exactly 1 (after the initial red)", i, s.redToGreen, s.transitions)
			}
		}
		if polls := k.Requests[wire.CmdGetMessages] - pollsBefore; polls < 4 {
			t.Errorf("%d polls after recovery, want polling to resume", polls)
		}
		_ = handled
	})
}

func TestRetryAfterHoldsEndpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		rw := newRewrite(cl.Transport())
		c := newClient(t, testConfig(cl, rw))
		setup(t, c)
		host := hostOf(cl.URLs()[0])
		rw.set(host, func(r *http.Request) (*http.Response, error) {
			resp, _ := reply(r, http.StatusServiceUnavailable, "busy")
			resp.Header.Set("Retry-After", "2")
			return resp, nil
		})
		start := len(rw.at(host))
		ctx := context.Background()
		var first time.Time
		for i := range 100 {
			if _, err := c.GetSettings(ctx); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			if first.IsZero() && len(rw.at(host)) > start {
				first = rw.at(host)[start]
				rw.set(host, nil) // the endpoint is fine again at once
			}
			time.Sleep(50 * time.Millisecond)
		}
		if first.IsZero() {
			t.Fatal("no request reached the endpoint")
		}
		times := rw.at(host)[start:]
		if len(times) < 2 {
			t.Fatalf("endpoint got %d requests, want it back after its Retry-After", len(times))
		}
		if gap := times[1].Sub(times[0]); gap < 2*time.Second {
			t.Errorf("next request %v after the 503 with Retry-After: 2, want ≥ 2s", gap)
		}
	})
}

func TestRetryBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		cfg := testConfig(cl, nil)
		cfg.RetryBudgetWindow = time.Hour
		c := newClient(t, cfg)
		setup(t, c)
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{ErrorRate: 1})
		}
		base := c.Stats()
		total := func() (n int64) {
			for _, v := range cl.Counters().RequestsByInstance {
				n += v
			}
			return n
		}
		srvBefore := total()
		ctx := context.Background()
		const calls = 500
		for range calls {
			if _, err := c.GetMessages(ctx, 0); err == nil {
				t.Fatal("call succeeded against a failing cluster")
			}
			time.Sleep(10 * time.Millisecond)
		}
		st := c.Stats()
		callsN := st.Calls - base.Calls
		retries := st.Retries - base.Retries
		allowed := max(float64(DefaultRetryBudgetMin), DefaultRetryBudget*float64(st.Calls))
		if float64(st.Retries) > allowed {
			t.Errorf("%d retries over %d calls, budget allows %.0f", st.Retries, st.Calls, allowed)
		}
		if st.RetriesDenied == 0 {
			t.Error("the budget never denied a retry")
		}
		srv := total() - srvBefore
		if srv != callsN+retries {
			t.Errorf("server saw %d requests, client made %d calls + %d retries", srv, callsN, retries)
		}
		t.Logf("%d calls, %d retries, %d denied, %d server requests", callsN, retries, st.RetriesDenied-base.RetriesDenied, srv)
	})
}

func TestBackupTier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		cfg := testConfig(cl, nil)
		cfg.URLs = cl.URLs()[:2]
		cfg.BackupURLs = cl.URLs()[2:]
		c := newClient(t, cfg)
		setup(t, c)
		ctx := context.Background()
		calls := func(n int) {
			t.Helper()
			for i := range n {
				if _, err := c.GetSettings(ctx); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		calls(100)
		if n := cl.Counters().RequestsByInstance[2]; n != 0 {
			t.Fatalf("backup served %d requests while the primaries were healthy", n)
		}
		cl.Instance(0).SetFault(regsim.Fault{Down: true})
		cl.Instance(1).SetFault(regsim.Fault{Down: true})
		calls(100)
		if s := c.State(); s.Level != Green || s.Tier != TierBackup {
			t.Fatalf("primaries down: state %+v, want green on the backup tier", s)
		}
		onBackup := cl.Counters().RequestsByInstance[2]
		if onBackup < 90 {
			t.Fatalf("backup served %d of 100 calls", onBackup)
		}
		cl.Instance(1).SetFault(regsim.Fault{})
		// Ejections last at most MaxEjectionTime (+25%); then a trial brings
		// the primary back.
		for i := 0; i < 300 && c.State().Tier != TierPrimary; i++ {
			calls(10)
		}
		if s := c.State(); s.Tier != TierPrimary || s.Level != Green {
			t.Fatalf("primary back: state %+v, want green on the primary tier", s)
		}
		b0 := cl.Counters().RequestsByInstance
		calls(100)
		b1 := cl.Counters().RequestsByInstance
		if b1[2] != b0[2] {
			t.Errorf("backup still served %d calls after the primary came back", b1[2]-b0[2])
		}
		if b1[1]-b0[1] != 100 {
			t.Errorf("primary 1 served %d of 100 calls", b1[1]-b0[1])
		}
	})
}

func TestServerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		cfg := testConfig(cl, nil)
		cfg.Password = "wrong"
		c := newClient(t, cfg)
		ctx := context.Background()
		_, err := c.Login(ctx)
		var se *ServerError
		if !errors.As(err, &se) || se.Primary != wire.CodeWrongPassword {
			t.Fatalf("login with a wrong password: %v, want ServerError -30101", err)
		}
		if strings.Contains(err.Error(), "wrong") && strings.Contains(err.Error(), "password>") {
			t.Errorf("error leaks the request: %v", err)
		}
		if st := c.Stats(); st.Attempts != 1 {
			t.Errorf("%d attempts for a permanent exception, want 1", st.Attempts)
		}
		if c.State().Level != Green {
			t.Errorf("an exception reply must count as reachable: %+v", c.State())
		}
	})
}

func TestSessionExpiryRelogin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl, err := regsim.NewCluster(regsim.Config{Instances: 2, Users: 2, SessionTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		time.Sleep(2 * time.Minute)
		if _, err := c.GetSettings(context.Background()); err != nil {
			t.Fatalf("call after the session expired: %v", err)
		}
		if n := cl.Counters().Logins; n != 2 {
			t.Errorf("%d logins, want 2 (one re-login)", n)
		}
	})
}

func TestQueueableSendsAtOnceWhenGreen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		ctx := context.Background()
		r, err := c.SendInvitation(ctx, Invitation{SpaceID: "s", Recipient: "user1", Payload: []byte("hi")})
		if err != nil || r.Queued || r.Result == "" {
			t.Fatalf("invitation while green: %+v, %v; want sent at once", r, err)
		}
		if _, err := c.SendInvitation(ctx, Invitation{SpaceID: "s", Recipient: "nobody"}); err == nil {
			t.Fatal("invitation to an unknown recipient succeeded")
		} else if se := (*ServerError)(nil); !errors.As(err, &se) || se.Primary != wire.CodeRecipientUnknown {
			t.Fatalf("unknown recipient: %v", err)
		}
		if _, err := c.SendComment(ctx, Comment{SpaceID: "s", FileID: "f", Text: "t", Recipients: []string{"user1"}}); err != nil {
			t.Fatal(err)
		}
		k := cl.Counters()
		if k.InvitationsStored != 1 || k.CommentsStored != 1 {
			t.Errorf("stored %d invitations, %d comments; want 1, 1", k.InvitationsStored, k.CommentsStored)
		}
	})
}

func TestPollingHandsEachMessageOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		sender := newClient(t, testConfig(cl, nil))
		setup(t, sender)
		cfg := testConfig(cl, nil)
		cfg.Username = "user1"
		rcv := newClient(t, cfg)
		setup(t, rcv)
		ctx, cancel := context.WithCancel(context.Background())
		got := map[string]int{}
		if err := rcv.StartPolling(ctx, func(_ context.Context, m Message) { got[m.ID]++ }); err != nil {
			t.Fatal(err)
		}
		if err := rcv.StartPolling(ctx, func(context.Context, Message) {}); !errors.Is(err, ErrPolling) {
			t.Errorf("second StartPolling: %v, want ErrPolling", err)
		}
		for i := range 5 {
			if _, err := sender.SendInvitation(ctx, Invitation{SpaceID: fmt.Sprint(i), Recipient: "user1"}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(3 * time.Minute)
		cancel()
		synctest.Wait()
		if len(got) != 5 {
			t.Fatalf("handled %d messages, want 5", len(got))
		}
		for id, n := range got {
			if n != 1 {
				t.Errorf("message %s handled %d times", id, n)
			}
		}
		if k := cl.Counters(); k.MessagesAcked != 5 {
			t.Errorf("%d messages acked, want 5", k.MessagesAcked)
		}
	})
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		release := make(chan struct{})
		var levels []State
		unsubscribe := c.Subscribe(func(s StateInfo) {
			<-release // stuck until the test lets go
			if len(levels) == 0 || levels[len(levels)-1] != s.Level {
				levels = append(levels, s.Level)
			}
		})
		defer unsubscribe()
		ctx := context.Background()
		want := []State{Green}
		for range 5 {
			for i := range cl.Len() {
				cl.Instance(i).SetFault(regsim.Fault{Down: true})
			}
			if _, err := c.GetMessages(ctx, 0); err == nil {
				t.Fatal("call succeeded with the cluster down")
			}
			for i := range cl.Len() {
				cl.Instance(i).SetFault(regsim.Fault{})
			}
			time.Sleep(5 * time.Minute) // every ejection has ended
			if _, err := c.GetMessages(ctx, 0); err != nil {
				t.Fatalf("call after recovery: %v", err)
			}
			want = append(want, Red, Green)
		}
		close(release)
		synctest.Wait()
		if fmt.Sprint(levels) != fmt.Sprint(want) {
			t.Fatalf("subscriber saw %v, want %v", levels, want)
		}
	})
}

func TestNoBackoffPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newFailingSlowRetryClient(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.GetMessages(ctx, 0)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want a CallError that gives up before the deadline", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("call took %v: it slept although the backoff ends after the deadline", d)
		}
		if st := c.Stats(); st.Retries != 0 {
			t.Errorf("%d retries", st.Retries)
		}
	})
}

func TestGenericCallAndEnqueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		c := newClient(t, testConfig(cl, nil))
		setup(t, c)
		ctx := context.Background()
		// The poll loop is the recovery probe that lets online-only calls
		// fail fast while Red.
		if err := c.StartPolling(ctx, func(context.Context, Message) {}); err != nil {
			t.Fatal(err)
		}
		rep, err := c.Call(ctx, Request{Command: wire.CmdGetSettings})
		if err != nil || len(rep.Settings) == 0 {
			t.Fatalf("generic getsettings: %+v, %v", rep, err)
		}
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{Down: true})
		}
		if _, err := c.Call(ctx, Request{Command: wire.CmdGetSettings, OnlineOnly: true}); err == nil {
			t.Fatal("call succeeded with the cluster down")
		}
		if _, err := c.Call(ctx, Request{Command: wire.CmdGetSettings, OnlineOnly: true}); !errors.Is(err, ErrOffline) {
			t.Fatalf("online-only generic call while red: %v", err)
		}
		r, err := c.Enqueue(ctx, Request{Command: wire.CmdSendComment, Fields: []Field{
			{"spaceid", "s"}, {"fileid", "f"}, {"text", "hello"}, {"recipients", "user1"},
		}}, "space:s")
		if err != nil || !r.Queued {
			t.Fatalf("enqueue while red: %+v, %v", r, err)
		}
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{})
		}
		if _, err := c.Call(ctx, Request{Command: wire.CmdGetSettings}); err != nil {
			t.Fatalf("call after recovery: %v", err)
		}
		time.Sleep(DefaultRecoverySpread + time.Second)
		synctest.Wait()
		if n := cl.AppliedRequests(r.ID); n != 1 {
			t.Errorf("queued comment applied %d times, want 1", n)
		}
	})
}
