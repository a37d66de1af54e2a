package client

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// callLog collects what Config.OnCall is told.
type callLog struct {
	mu    sync.Mutex
	calls []CallInfo
}

func (l *callLog) add(ci CallInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, ci)
}

func (l *callLog) of(cmd string) []CallInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []CallInfo
	for _, ci := range l.calls {
		if ci.Command == cmd {
			out = append(out, ci)
		}
	}
	return out
}

// A load generator measures its own lateness from CallInfo.Due: each poll
// of the loop says when it was due, the ack after it and the
// application's own calls say nothing, and the loop keeps to the server's
// longer <pollinterval>, which PollInterval reports.
func TestPollsSayWhenTheyWereDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl, err := regsim.NewCluster(regsim.Config{Instances: 1, Users: 4, PollInterval: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var log callLog
		cfg := testConfig(cl, nil)
		cfg.PollInterval = 5 * time.Second
		cfg.OnCall = log.add
		c := newClient(t, cfg)
		setup(t, c)
		if got := c.PollInterval(); got != 5*time.Second {
			t.Errorf("PollInterval before a poll = %s, want the configured 5s", got)
		}
		// A message for the ack to follow.
		sender := newClient(t, func() Config { c := testConfig(cl, nil); c.Username = "user1"; return c }())
		setup(t, sender)
		if _, err := sender.SendInvitation(context.Background(), Invitation{SpaceID: "1", Recipient: "user0", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetMessages(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		if err := c.StartPolling(context.Background(), func(context.Context, Message) {}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(95 * time.Second)
		c.Close()

		gets := log.of("getmessages")
		if len(gets) < 4 {
			t.Fatalf("%d getmessages in 95 s of polling, want at least 4", len(gets))
		}
		if !gets[0].Due.IsZero() {
			t.Errorf("the application's own getmessages has Due %s, want zero", gets[0].Due)
		}
		var prev time.Time
		for i, ci := range gets[1:] {
			if ci.Due.IsZero() {
				t.Fatalf("poll %d has no Due", i)
			}
			if !ci.Start.Equal(ci.Due) {
				t.Errorf("poll %d started %s after it was due; nothing here delays it", i, ci.Start.Sub(ci.Due))
			}
			if ci.Due.Before(started) {
				t.Errorf("poll %d due %s before the loop started", i, started.Sub(ci.Due))
			}
			if !prev.IsZero() && ci.Due.Sub(prev) < 20*time.Second {
				t.Errorf("poll %d due %s after the one before, below the server's 20s", i, ci.Due.Sub(prev))
			}
			prev = ci.Due
		}
		for _, ci := range log.of("ackmessages") {
			if !ci.Due.IsZero() {
				t.Errorf("an ack has Due %s; it follows the poll, it is not scheduled", ci.Due)
			}
		}
		if got := c.PollInterval(); got != 20*time.Second {
			t.Errorf("PollInterval after polls = %s, want the server's 20s", got)
		}
	})
}

// A background health probe of an ejected endpoint is the client's own
// timed action too: OnCall says when it was due, and a probe the
// application asks for (Probe) says nothing.
func TestHealthProbesSayWhenTheyWereDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 3)
		rw := newRewrite(cl.Transport())
		var log callLog
		cfg := testConfig(cl, rw)
		cfg.OnCall = log.add
		c := newClient(t, cfg)
		setup(t, c)
		rw.set(hostOf(cl.URLs()[1]), refused)
		for range 120 {
			if _, err := c.GetSettings(context.Background()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		probes := log.of("healthz")
		if len(probes) == 0 {
			t.Fatal("no background probe of the refused endpoint in a minute")
		}
		for i, ci := range probes {
			if ci.Due.IsZero() || !ci.Start.Equal(ci.Due) {
				t.Errorf("probe %d: due %v, started %v; want due set, and started then", i, ci.Due, ci.Start)
			}
		}
		n := len(probes)
		if err := c.Probe(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, ci := range log.of("healthz")[n:] {
			if !ci.Due.IsZero() {
				t.Errorf("the application's Probe reported Due %v, want zero", ci.Due)
			}
		}
	})
}

// A server that slows its clients down (a longer <pollinterval> after an
// outage, seed 001's mitigation) is obeyed at once: the next poll waits
// the new interval, and the outbox drains as much slower; when it lowers
// the interval again, both come back.
func TestServerSlowDownIsObeyedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl, err := regsim.NewCluster(regsim.Config{Instances: 1, Users: 4, PollInterval: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var log callLog
		cfg := testConfig(cl, nil)
		cfg.PollInterval = 10 * time.Second
		cfg.DrainRate = 6
		cfg.OnCall = log.add
		c := newClient(t, cfg)
		setup(t, c)
		if err := c.StartPolling(context.Background(), func(context.Context, Message) {}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		if got := c.DrainRate(); got != 6 {
			t.Errorf("drain rate %v at the configured interval, want 6", got)
		}
		cl.SetPollInterval(60 * time.Second)
		slowFrom := time.Now()
		time.Sleep(3 * time.Minute)
		if got := c.DrainRate(); got != 1 {
			t.Errorf("drain rate %v with polls asked 6× further apart, want 1", got)
		}
		// From the first poll answered with 60 s on, the polls are 60 s
		// (+jitter) apart.
		var answered time.Time
		var prev time.Time
		for _, ci := range log.of("getmessages") {
			if ci.Due.Before(slowFrom) {
				continue
			}
			if answered.IsZero() {
				answered = ci.Due
				prev = ci.Due
				continue
			}
			if gap := ci.Due.Sub(prev); gap < 60*time.Second {
				t.Errorf("poll %s after the one before, within the server's 60 s", gap)
			}
			prev = ci.Due
		}
		if answered.IsZero() || answered.Sub(slowFrom) > 12*time.Second {
			t.Errorf("first poll after the slow-down at %s, want within one old interval", answered.Sub(slowFrom))
		}
		cl.SetPollInterval(0)
		time.Sleep(2 * time.Minute)
		if got := c.DrainRate(); got != 6 {
			t.Errorf("drain rate %v once the server lowers the interval, want 6 again", got)
		}
		if got := c.PollInterval(); got != 10*time.Second {
			t.Errorf("poll interval %s once the server lowers it, want 10s", got)
		}
	})
}
