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

// TestOnCallReportsEachCall checks what a metrics hook sees: one CallInfo
// per call, with the command, the endpoint that answered, the attempts and
// the outcome, and the time the fault cost.
func TestOnCallReportsEachCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		var mu sync.Mutex
		var seen []CallInfo
		cfg := testConfig(cl, nil)
		cfg.OnCall = func(ci CallInfo) {
			mu.Lock()
			seen = append(seen, ci)
			mu.Unlock()
		}
		c := newClient(t, cfg)
		ctx := context.Background()
		if _, err := c.Login(ctx); err != nil {
			t.Fatal(err)
		}
		cl.Instance(0).SetFault(regsim.Fault{Latency: 300 * time.Millisecond})
		for range 2 {
			if _, err := c.GetSettings(ctx); err != nil {
				t.Fatal(err)
			}
		}
		cl.Instance(0).SetFault(regsim.Fault{Down: true})
		cl.Instance(1).SetFault(regsim.Fault{Down: true})
		_, err := c.GetSettings(ctx)
		if err == nil {
			t.Fatal("all down: no error")
		}

		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 4 {
			t.Fatalf("OnCall saw %d calls, want 4: %+v", len(seen), seen)
		}
		if seen[0].Command != "loginuser" || seen[0].Err != nil || seen[0].Attempts != 1 {
			t.Errorf("login: %+v", seen[0])
		}
		urls := cl.URLs()
		var slow int
		for _, ci := range seen[1:3] {
			if ci.Command != "getsettings" || ci.Err != nil || ci.Attempts != 1 {
				t.Errorf("getsettings: %+v", ci)
			}
			if ci.Endpoint != urls[0] && ci.Endpoint != urls[1] {
				t.Errorf("endpoint %q is not one of %v", ci.Endpoint, urls)
			}
			if ci.Endpoint == urls[0] {
				slow++
				if ci.Duration != 300*time.Millisecond {
					t.Errorf("call to the slow instance took %s, want 300ms", ci.Duration)
				}
			}
		}
		if slow != 1 {
			t.Errorf("%d of 2 calls went to instance 0, want 1 (round robin)", slow)
		}
		last := seen[3]
		if last.Err == nil || !errors.Is(last.Err, ErrUnavailable) || last.Attempts < 2 {
			t.Errorf("failed call: %+v", last)
		}
	})
}

// TestOnCallCountsTheMessages: a poll's CallInfo says how many messages
// its reply held, so that a reader can tell a full reply (more may wait on
// the server) from one with room to spare.
func TestOnCallCountsTheMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		ctx := context.Background()
		sender := newClient(t, testConfig(cl, nil))
		setup(t, sender)
		for i := range 3 {
			if _, err := sender.SendInvitation(ctx, Invitation{SpaceID: "s", Recipient: "user1", Payload: []byte{byte(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		var polls []int
		cfg := testConfig(cl, nil)
		cfg.Username = "user1"
		cfg.OnCall = func(ci CallInfo) {
			if ci.Command == "getmessages" {
				mu.Lock()
				polls = append(polls, ci.Messages)
				mu.Unlock()
			}
		}
		recipient := newClient(t, cfg)
		setup(t, recipient)
		for _, n := range []int{2, 100} {
			if _, err := recipient.GetMessages(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(polls) != 2 || polls[0] != 2 || polls[1] != 3 {
			t.Fatalf("CallInfo.Messages of the polls (max 2, then 100) = %v, want [2 3]", polls)
		}
	})
}
