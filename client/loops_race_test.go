package client

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// TestPollLoopEndsWithCanceledContext: a loop started with a context
// that is already done ends at once, so StartPolling with a new context
// succeeds. (When end could run before the first timer was armed, it found
// nothing to stop and the loop lingered, "polling", until that timer
// fired: a race lost in a few percent of starts, hence the repetitions.)
func TestPollLoopEndsWithCanceledContext(t *testing.T) {
	const runs = 1000
	lingered := 0
	for range runs {
		synctest.Test(t, func(t *testing.T) {
			cl := newCluster(t, 1)
			cfg := testConfig(cl, nil)
			cfg.PollInterval = time.Hour
			cfg.PollMaxInterval = time.Hour
			c := newClient(t, cfg)
			setup(t, c)
			done, cancel := context.WithCancel(context.Background())
			cancel()
			if err := c.StartPolling(done, func(context.Context, Message) {}); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			ctx, cancel2 := context.WithCancel(context.Background())
			defer cancel2()
			if err := c.StartPolling(ctx, func(context.Context, Message) {}); errors.Is(err, ErrPolling) {
				lingered++
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
	if lingered > 0 {
		t.Errorf("%d of %d loops started with a done context still ran after it (StartPolling: ErrPolling)", lingered, runs)
	}
}

// TestRecoveryAtPollTime: Red turns Green (another call reached the
// server) at the very moment a backoff poll is due, and that poll fails:
// the next poll must come within RecoverySpread (0 with DisableJitter), as
// the old goroutine loop did (its pollWake channel kept the signal). (wake
// found the timer fired but tick not yet started and dropped the signal;
// the loop then backed off 10 s instead.) The interleaving is forced: the
// timer is taken as fired (stopped by the test), wake comes, then the tick
// the timer would have run. Left to the scheduler, wake may also come just
// before the timer fires, where the poll it brings forward is the due one
// and a single poll is right, so a count of polls could not tell.
func TestRecoveryAtPollTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 1)
		var p polls
		cfg := testConfig(cl, nil)
		cfg.PollInterval = 10 * time.Second
		cfg.DisableJitter = true
		cfg.MaxAttempts = 1
		cfg.OnCall = p.onCall
		c := newClient(t, cfg)
		setup(t, c)
		cl.Instance(0).SetFault(regsim.Fault{Down: true})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := c.StartPolling(ctx, func(context.Context, Message) {}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // poll 1 at 0 s failed; poll 2 is due at 10 s
		if c.State().Level != Red {
			t.Fatalf("state %v, want Red", c.State().Level)
		}
		l := c.poll.Load()
		l.mu.Lock()
		fired := l.armed && l.timer.Stop() // the timer "fires": its tick has not begun
		l.mu.Unlock()
		if !fired {
			t.Fatal("the loop's timer was not armed")
		}
		c.reached() // another call found the server again
		go l.tick() // what the timer runs
		time.Sleep(time.Second)
		if n := p.count(); n < 3 {
			t.Errorf("%d polls, want 3: the recovery that came with the due poll was lost, the loop backed off after it", n)
		}
	})
}

// TestLongPollIntervalStillValid: a config that sets only PollInterval,
// longer than DefaultPollMaxInterval, is valid: the default cap follows it
// (as for a loadgen run with --poll-interval 3m).
func TestLongPollIntervalStillValid(t *testing.T) {
	cl := newCluster(t, 1)
	cfg := testConfig(cl, nil)
	cfg.PollInterval = 3 * time.Minute
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New with PollInterval 3m and the default PollMaxInterval: %v", err)
	}
	c.Close()
}
