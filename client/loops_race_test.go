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
// the loop then backed off 20 s instead.)
func TestRecoveryAtPollTime(t *testing.T) {
	const runs = 200
	lost := 0
	for range runs {
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
			time.Sleep(10 * time.Second) // poll 1 at 0 s failed; poll 2 is due now
			if c.State().Level != Red {
				t.Fatalf("state %v, want Red", c.State().Level)
			}
			c.reached() // another call found the server again
			time.Sleep(time.Second)
			if n := p.count(); n < 3 {
				lost++
			}
		})
	}
	if lost > 0 {
		t.Errorf("%d of %d recoveries at a poll's due time were lost: no poll within the recovery spread after the failed poll", lost, runs)
	}
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
