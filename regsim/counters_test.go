package regsim

import (
	"context"
	"maps"
	"net/http"
	"testing"

	"github.com/regfleet/regfleet/internal/wire"
)

// TestRepliesOneOutcomePerAPIRequest checks that Replies counts exactly one
// outcome per API request, a reply cut by Reset included, and that replies
// to /healthz are not in it whatever fault answered them.
func TestRepliesOneOutcomePerAPIRequest(t *testing.T) {
	modes(t, Config{Users: 2}, func(t *testing.T, c *Cluster, hc *http.Client) {
		s := newSession(t, hc, c.URLs()[0], "user0") // ok
		c.Instance(0).SetFault(Fault{Reset: true})
		inv := s.req(wire.CmdSendInvitation, "cut", "spaceid", "1", "recipient", "user1", "payload", "cA==")
		if _, _, err := s.raw(inv); err == nil { // applied, reply cut: reset
			t.Fatal("reply read whole under Reset")
		}
		bad := s.req(wire.CmdGetSettings, "")
		bad.Session = "forged"
		if _, _, err := s.raw(bad); err == nil { // exception, reply cut: reset
			t.Fatal("reply read whole under Reset")
		}
		c.Instance(0).SetFault(Fault{})
		wantOK(t, s.call(t, inv))                                 // replay: ok
		wantException(t, s.call(t, bad), wire.CodeSessionExpired) // exception
		want := map[string]int64{"ok": 2, "reset": 2, "exception": 1}
		wantExc := map[string]int64{"-30400": 1}
		cs := c.Counters()
		if !maps.Equal(cs.Replies, want) || !maps.Equal(cs.Exceptions, wantExc) {
			t.Fatalf("replies %v exceptions %v, want %v %v", cs.Replies, cs.Exceptions, want, wantExc)
		}

		// Faults that answer /healthz leave Replies alone.
		health := func() {
			t.Helper()
			resp, err := hc.Get(c.URLs()[0] + wire.HealthPath)
			if err == nil {
				resp.Body.Close()
			}
		}
		c.Instance(0).SetFault(Fault{Unavailable: true})
		health()
		c.Instance(0).SetFault(Fault{ErrorRate: 1})
		health()
		c.Instance(0).SetFault(Fault{Hang: true})
		done := make(chan struct{})
		go func() {
			defer close(done)
			health()
		}()
		if err := c.WaitStalled(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		c.Instance(0).SetFault(Fault{})
		<-done
		cs = c.Counters()
		if cs.HealthChecks != 3 || !maps.Equal(cs.Replies, want) {
			t.Fatalf("after health checks: %d checks, replies %v, want %v", cs.HealthChecks, cs.Replies, want)
		}
	})
}
