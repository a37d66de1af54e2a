package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/regsim"
)

// The faults of promises_test.go, over real loopback sockets: a server in
// front of a regsim instance that can answer as a proxy's HTML 403 page, or
// apply each request and answer only after the client gave up.
type frontMode int32

const (
	frontPass  frontMode = iota // forward to the instance
	frontProxy                  // every path: 403 with an HTML page
	frontLate                   // apply, then hold the reply until the client leaves
)

func newFront(t *testing.T) (*regsim.Cluster, *httptest.Server, *atomic.Int32) {
	t.Helper()
	cl, err := regsim.NewCluster(regsim.Config{Instances: 1, Users: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	var mode atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch frontMode(mode.Load()) {
		case frontProxy:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(proxyPage))
		case frontLate:
			cl.Instance(0).ServeHTTP(httptest.NewRecorder(), r)
			<-r.Context().Done()
		default:
			cl.Instance(0).ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return cl, srv, &mode
}

func frontClient(t *testing.T, srv *httptest.Server) (*Client, *offline.Memory) {
	t.Helper()
	ob := offline.NewMemory(offline.MemoryOptions{})
	t.Cleanup(func() { ob.Close() })
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := newClient(t, Config{URLs: []string{srv.URL}, Username: "user0", Password: regsim.DefaultPassword,
		HTTPClient: &http.Client{Transport: tr}, Outbox: ob, Seed: 1})
	setup(t, c)
	return c, ob
}

// TestLoopbackProxyPage: a real HTTP server answering 403 with an HTML
// page is not the Registration Server: the light turns red, Probe fails,
// and a queued invitation is not dead-lettered.
func TestLoopbackProxyPage(t *testing.T) {
	cl, srv, mode := newFront(t)
	c, ob := frontClient(t, srv)
	ctx := context.Background()
	mode.Store(int32(frontProxy))
	if _, err := c.GetMessages(ctx, 1); !errors.Is(err, ErrNotRegistrationServer) {
		t.Fatalf("poll behind the proxy: %v, want ErrNotRegistrationServer", err)
	}
	if s := c.State(); s.Level != Red {
		t.Errorf("light behind the proxy: %v, want red", s.Level)
	}
	if err := c.Probe(ctx); err == nil {
		t.Error("Probe behind the proxy succeeded")
	}
	r, err := c.SendInvitation(ctx, Invitation{SpaceID: "42", Recipient: "user1"})
	if err != nil || !r.Queued {
		t.Fatalf("invitation behind the proxy: %+v, %v; want queued", r, err)
	}
	mode.Store(int32(frontPass))
	if err := c.Probe(ctx); err != nil {
		t.Fatalf("Probe once the proxy lets requests through: %v", err)
	}
	if res, err := ob.Drain(ctx, c.sendItem); err != nil || res.Sent != 1 || res.Dead != 0 {
		t.Fatalf("drain: %+v, %v; want 1 sent, 0 dead", res, err)
	}
	if n := len(cl.Messages("user1")); n != 1 {
		t.Errorf("user1 has %d invitations, want 1", n)
	}
}

// TestLoopbackReplyAfterDeadline: a real server applies the invitation and
// answers after the caller's deadline; the receipt is queued under its ID
// and the invitation is applied exactly once after the replay.
func TestLoopbackReplyAfterDeadline(t *testing.T) {
	cl, srv, mode := newFront(t)
	c, ob := frontClient(t, srv)
	mode.Store(int32(frontLate))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	r, err := c.SendInvitation(ctx, Invitation{SpaceID: "42", Recipient: "user1"})
	cancel()
	if err != nil || !r.Queued || r.ID == "" {
		t.Fatalf("SendInvitation whose reply came after the deadline: %+v, %v; want queued with its ID", r, err)
	}
	mode.Store(int32(frontPass))
	// The client's own drain may have the item already (queued while not
	// Red, it is kicked at once): its late attempt times out and the retry
	// gets through. Drain waits for that drain, then sends what is left.
	if _, err := ob.Drain(context.Background(), c.sendItem); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if n, err := ob.Len(context.Background()); err != nil || n != 0 {
		t.Fatalf("%d items still queued after the drain (%v), want 0", n, err)
	}
	if n := cl.AppliedRequests(r.ID); n != 1 {
		t.Errorf("request applied %d times, want 1", n)
	}
	if n := len(cl.Messages("user1")); n != 1 {
		t.Errorf("user1 has %d invitations, want exactly 1", n)
	}
}
