package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// stallFirst is a RoundTripper whose first reply has a body that never
// ends: reads block until the request's context ends.
type stallFirst struct {
	base  http.RoundTripper
	armed atomic.Bool
}

func (s *stallFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if !s.armed.CompareAndSwap(true, false) {
		return s.base.RoundTrip(r)
	}
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	resp, err := reply(r, http.StatusOK, "")
	resp.Body = stallBody{r.Context()}
	resp.ContentLength = -1
	return resp, err
}

type stallBody struct{ ctx context.Context }

func (b stallBody) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

func (stallBody) Close() error { return nil }

// TestAttemptTimeoutCoversReplyBody checks that AttemptTimeout bounds the
// reading of the reply body too: the stalled attempt ends after exactly
// AttemptTimeout and the retry on the other endpoint serves the call.
func TestAttemptTimeoutCoversReplyBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, 2)
		rt := &stallFirst{base: cl.Transport()}
		cfg := testConfig(cl, rt)
		cfg.AttemptTimeout = 3 * time.Second
		cfg.RetryWaitMin, cfg.RetryWaitMax = 100*time.Millisecond, time.Second
		cfg.DisableJitter = true
		c := newClient(t, cfg)
		setup(t, c)
		rt.armed.Store(true)
		before := c.Stats()
		start := time.Now()
		if _, err := c.GetMessages(context.Background(), 0); err != nil {
			t.Fatalf("GetMessages: %v", err)
		}
		if d, want := time.Since(start), cfg.AttemptTimeout+cfg.RetryWaitMin; d != want {
			t.Errorf("call took %v, want %v (one timed-out attempt, one backoff)", d, want)
		}
		if st := c.Stats(); st.Attempts-before.Attempts != 2 || st.Retries-before.Retries != 1 {
			t.Errorf("attempts %d, retries %d; want 2 and 1", st.Attempts-before.Attempts, st.Retries-before.Retries)
		}
	})
}

// TestCancelDuringBackoff checks that the caller's context ends a backoff
// wait at once with a *CallError that carries the cancellation, and that
// the endpoint picked for the next attempt is released.
func TestCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, cl := newFailingSlowRetryClient(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(time.Second, cancel)
		before := c.Stats()
		start := time.Now()
		_, err := c.GetMessages(ctx, 0)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want a CallError carrying the cancellation", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("call took %v, want 1s (the wait ends with the context)", d)
		}
		if st := c.Stats(); st.Attempts-before.Attempts != 1 {
			t.Errorf("%d attempts, want 1", st.Attempts-before.Attempts)
		}
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{})
		}
		for i := range 2 * cl.Len() {
			if _, err := c.GetMessages(context.Background(), 0); err != nil {
				t.Fatalf("call %d after the faults cleared: %v", i, err)
			}
		}
	})
}
