package client

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/regfleet/regfleet/regsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newCluster builds an in-memory cluster that is closed with the test.
func newCluster(t testing.TB, instances int) *regsim.Cluster {
	t.Helper()
	cl, err := regsim.NewCluster(regsim.Config{Instances: instances, Users: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// testConfig is a config for cl's in-memory transport as user0.
func testConfig(cl *regsim.Cluster, rt http.RoundTripper) Config {
	if rt == nil {
		rt = cl.Transport()
	}
	return Config{
		URLs:       cl.URLs(),
		Username:   "user0",
		Password:   regsim.DefaultPassword,
		HTTPClient: &http.Client{Transport: rt},
		Seed:       42,
	}
}

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pollingFleet returns n clients of cl, logged in as user0… with a device,
// each polling with ctx and configured further by conf; they are closed
// with the test.
func pollingFleet(ctx context.Context, t testing.TB, cl *regsim.Cluster, n int, conf func(*Config)) []*Client {
	t.Helper()
	cs := make([]*Client, n)
	for i := range cs {
		cfg := testConfig(cl, nil)
		cfg.Username = "user" + strconv.Itoa(i)
		cfg.Seed = uint64(i + 1)
		conf(&cfg)
		c := newClient(t, cfg)
		setup(t, c)
		if err := c.StartPolling(ctx, func(context.Context, Message) {}); err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	return cs
}

// setup logs in and registers a device.
func setup(t testing.TB, c *Client) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Login(ctx); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := c.RegisterDevice(ctx, "test", "key"); err != nil {
		t.Fatalf("register device: %v", err)
	}
}

func hostOf(rawURL string) string {
	return strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://")
}

// rewrite is a RoundTripper that answers requests to host with fn while fn
// is set, and passes everything else to base. It records request times per
// host.
type rewrite struct {
	base http.RoundTripper

	mu    sync.Mutex
	fns   map[string]func(*http.Request) (*http.Response, error)
	times map[string][]time.Time
}

func newRewrite(base http.RoundTripper) *rewrite {
	return &rewrite{base: base, fns: map[string]func(*http.Request) (*http.Response, error){}, times: map[string][]time.Time{}}
}

func (r *rewrite) set(host string, fn func(*http.Request) (*http.Response, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fn == nil {
		delete(r.fns, host)
	} else {
		r.fns[host] = fn
	}
}

func (r *rewrite) at(host string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times[host]...)
}

func (r *rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.times[req.URL.Host] = append(r.times[req.URL.Host], time.Now())
	fn := r.fns[req.URL.Host]
	r.mu.Unlock()
	if fn != nil {
		if req.Body != nil {
			io.Copy(io.Discard, req.Body)
			req.Body.Close()
		}
		return fn(req)
	}
	return r.base.RoundTrip(req)
}

func reply(req *http.Request, status int, body string) (*http.Response, error) {
	return &http.Response{
		StatusCode: status,
		Status:     http.StatusText(status),
		Header:     http.Header{"Content-Type": {"text/xml; charset=utf-8"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		ContentLength: int64(len(body)),
	}, nil
}

const dbDownReply = `<?xml version='1.0' encoding='UTF-8' ?><teamdrive><exception><primarycode>-12507</primarycode><secondarycode>2003</secondarycode><message>Can't connect to MySQL server</message></exception></teamdrive>`

// newFailingSlowRetryClient returns a logged-in client of a three-instance
// cluster whose every instance answers 500, with a fixed 10 s wait between
// attempts: a call is then sure to be in a backoff wait.
func newFailingSlowRetryClient(t testing.TB) (*Client, *regsim.Cluster) {
	t.Helper()
	cl := newCluster(t, 3)
	cfg := testConfig(cl, nil)
	cfg.RetryWaitMin, cfg.RetryWaitMax = 10*time.Second, 10*time.Second
	cfg.DisableJitter = true
	c := newClient(t, cfg)
	setup(t, c)
	for i := range cl.Len() {
		cl.Instance(i).SetFault(regsim.Fault{ErrorRate: 1})
	}
	return c, cl
}
