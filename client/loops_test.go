package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// polls counts the getmessages calls a client finished, by OnCall.
type polls struct {
	mu sync.Mutex
	at []time.Time
}

func (p *polls) onCall(ci CallInfo) {
	if ci.Command == "getmessages" {
		p.mu.Lock()
		p.at = append(p.at, ci.Start)
		p.mu.Unlock()
	}
}

func (p *polls) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.at)
}

// TestPollLoopLifecycle: the poll loop keeps its schedule, stops when its
// context ends (and may then be started again), and a poll in progress at
// Close is canceled: Close returns and later starts fail with ErrClosed.
func TestPollLoopLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		cl.SetPollInterval(10 * time.Second)
		var p polls
		cfg := testConfig(cl, nil)
		cfg.PollInterval = 10 * time.Second
		cfg.DisableJitter = true
		cfg.OnCall = p.onCall
		c := newClient(t, cfg)
		setup(t, c)

		ctx1, cancel1 := context.WithCancel(context.Background())
		if err := c.StartPolling(ctx1, func(context.Context, Message) {}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Second) // polls at 0, 10 s, 20 s
		if n := p.count(); n != 3 {
			t.Fatalf("%d polls in 25 s at a 10 s interval, want 3", n)
		}
		cancel1()
		synctest.Wait()
		time.Sleep(time.Minute)
		if n := p.count(); n != 3 {
			t.Fatalf("%d polls after the loop's context ended, want still 3", n)
		}

		// Started again: the first loop is over.
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		if err := c.StartPolling(ctx2, func(context.Context, Message) {}); err != nil {
			t.Fatalf("StartPolling after the first loop ended: %v", err)
		}
		synctest.Wait()
		if n := p.count(); n != 4 {
			t.Fatalf("%d polls, want 4: the second loop polls at once", n)
		}

		// A poll hangs on the server; Close cancels it and returns.
		cl.Instance(0).SetFault(regsim.Fault{Hang: true})
		time.Sleep(11 * time.Second)
		if cl.Stalled() != 1 {
			t.Fatalf("%d requests held by the server, want the poll's 1", cl.Stalled())
		}
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			c.Close()
		}()
		synctest.Wait()
		select {
		case <-closed:
		default:
			t.Fatal("Close did not return while a poll was in progress")
		}
		if err := c.StartPolling(ctx2, func(context.Context, Message) {}); !errors.Is(err, ErrClosed) {
			t.Errorf("StartPolling after Close: %v, want ErrClosed", err)
		}
	})
}

// TestDrainAfterRecoverySpread: invitations queued while Red go out once
// the client is Green again, not before a delay within RecoverySpread, and
// each exactly once.
func TestDrainAfterRecoverySpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		cfg := testConfig(cl, nil)
		cfg.RecoverySpread = 30 * time.Second
		c := newClient(t, cfg)
		setup(t, c)
		ctx := context.Background()

		cl.Instance(0).SetFault(regsim.Fault{Down: true})
		for range 3 {
			if _, err := c.SendInvitation(ctx, Invitation{SpaceID: "s", Recipient: "user1"}); err != nil {
				t.Fatal(err)
			}
		}
		if c.State().Level != Red {
			t.Fatalf("state %v after failed sends, want Red", c.State().Level)
		}
		cl.Instance(0).SetFault(regsim.Fault{})
		recoveredAt := time.Now()
		if _, err := c.GetSettings(ctx); err != nil { // turns Green
			t.Fatal(err)
		}
		synctest.Wait()
		if got := len(cl.Messages("user1")); got != 0 {
			t.Fatalf("%d invitations delivered at the recovery itself, want 0 before the spread", got)
		}
		time.Sleep(cfg.RecoverySpread + time.Second)
		if got := len(cl.Messages("user1")); got != 3 {
			t.Fatalf("%d invitations delivered %s after recovery, want 3", got, time.Since(recoveredAt))
		}
		if n, _ := c.outbox.Len(ctx); n != 0 {
			t.Errorf("%d items still queued", n)
		}
	})
}

// TestGreenAgainInProportionToOutage: after a 20 s outage every client of a
// fleet polling every 10 s is Green again within 40 s, however many quick
// failures its full-jitter backoff drew during the outage: the failure
// backoff is bounded by twice the time the polls have been failing (and a
// long outage still backs off towards PollMaxInterval).
func TestGreenAgainInProportionToOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const clients = 300
		cl, err := regsim.NewCluster(regsim.Config{Instances: 2, Users: clients, PollInterval: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cs := pollingFleet(ctx, t, cl, clients, func(c *Config) { c.PollInterval = 10 * time.Second })
		time.Sleep(time.Minute)
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{Down: true})
		}
		time.Sleep(20 * time.Second)
		red := 0
		for _, c := range cs {
			if c.State().Level == Red {
				red++
			}
		}
		if red < clients/2 {
			t.Fatalf("only %d of %d clients Red after a 20 s outage", red, clients)
		}
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{})
		}
		time.Sleep(40*time.Second + time.Second) // + a poll's own time
		for i, c := range cs {
			if l := c.State().Level; l != Green {
				t.Errorf("client %d still %v 40 s after a 20 s outage", i, l)
			}
		}
	})
}
