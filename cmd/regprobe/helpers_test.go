package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/regfleet/regfleet/internal/nagios"
	"github.com/regfleet/regfleet/regsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixedElapsed makes every round trip take d, so that outputs are exact.
func fixedElapsed(d time.Duration) func(time.Time) time.Duration {
	return func(time.Time) time.Duration { return d }
}

// probeRun is one run of the plugin.
type probeRun struct {
	code  int
	out   string
	first string   // the first line
	long  []string // the lines after it
}

// runProbe runs the plugin with args, REGPROBE_PASSWORD from env, and every
// round trip taking elapsed (0: the real time).
func runProbe(ctx context.Context, t *testing.T, env map[string]string, elapsed time.Duration, args ...string) probeRun {
	t.Helper()
	var out bytes.Buffer
	h := hooks{}
	if elapsed > 0 {
		h.elapsed = fixedElapsed(elapsed)
	}
	code := runWith(ctx, args, &out, func(k string) string { return env[k] }, h)
	r := probeRun{code: code, out: out.String()}
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	r.first, r.long = lines[0], lines[1:]
	return r
}

// checkOutput checks a run's output as a monitoring system reads it: the
// format of the guidelines (nagios.ParseOutput), the status word of the
// exit code, and performance data whose thresholds agree with the exit
// code (a value in a critical range never comes with less than CRITICAL).
func checkOutput(t *testing.T, r probeRun) nagios.Output {
	t.Helper()
	o, err := nagios.ParseOutput(r.out)
	if err != nil {
		t.Fatalf("output a monitoring system would misread: %v\n%s", err, r.out)
	}
	st := nagios.Status(r.code)
	if r.code < 0 || r.code > 3 || !strings.HasPrefix(o.Summary, "REGSERVER "+st.String()+" - ") {
		t.Errorf("exit %d with status line %q", r.code, o.Summary)
	}
	if strings.Count(r.out, "|") != 1 && len(o.Perf) > 0 {
		t.Errorf("%d \"|\" in the output, want the one before the performance data:\n%s", strings.Count(r.out, "|"), r.out)
	}
	for _, p := range o.Perf {
		if p.Unknown {
			continue
		}
		implied := nagios.Thresholds{Warning: p.Warn, Critical: p.Crit}.Status(p.Value)
		if implied.Worse(st) {
			t.Errorf("%s=%v is %v by its own thresholds, the check says %v:\n%s", p.Label, p.Value, implied, st, r.out)
		}
		if p.Min != nil && p.Value < *p.Min || p.Max != nil && p.Value > *p.Max {
			t.Errorf("%s=%v outside its min/max:\n%s", p.Label, p.Value, r.out)
		}
		if strings.HasSuffix(p.Label, "time") && p.UOM != "ms" {
			t.Errorf("%s has unit %q, want ms", p.Label, p.UOM)
		}
	}
	return o
}

// startCluster starts a simulated cluster on loopback and stops it at the
// end of the test.
func startCluster(t *testing.T, cfg regsim.Config) *regsim.Cluster {
	t.Helper()
	c, err := regsim.Start(cfg, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// silentServer accepts TCP connections and never answers, as a hung
// process or a network that drops everything after the handshake does. Its
// accepted channel receives once per connection.
type silentServer struct {
	ln       net.Listener
	accepted chan struct{}
	mu       sync.Mutex
	conns    []net.Conn
	done     sync.WaitGroup
}

func startSilent(t *testing.T) *silentServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentServer{ln: ln, accepted: make(chan struct{}, 16)}
	s.done.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			select {
			case s.accepted <- struct{}{}:
			default:
			}
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.done.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	return s
}

func (s *silentServer) URL() string { return "http://" + s.ln.Addr().String() }

// htmlServer answers every request with status and an HTML page, as a
// proxy in front of a dead backend does.
func htmlServer(t *testing.T, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<html><body><h1>" + http.StatusText(status) + "</h1>\nNo server is available to handle this request.\n</body></html>\n"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// errECONNREFUSED is the errno a refused connect returns.
var errECONNREFUSED error = syscall.ECONNREFUSED
