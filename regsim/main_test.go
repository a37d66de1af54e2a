package regsim

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is an injected clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startCluster starts a cluster on loopback and returns it with an HTTP
// client of its own; both are cleaned up with the test.
func startCluster(tb testing.TB, cfg Config) (*Cluster, *http.Client) {
	tb.Helper()
	c, err := Start(cfg, StartOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return c, &http.Client{Transport: tr}
}

// memCluster builds a socket-free cluster and a client on its Transport.
func memCluster(tb testing.TB, cfg Config) (*Cluster, *http.Client) {
	tb.Helper()
	c, err := NewCluster(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c, &http.Client{Transport: c.Transport()}
}
