package loadgen

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// TestDefaultsScenario runs issue 12's scenario for the SDK's defaults in
// simulated time: 10,000 clients polling every 30 s, every instance down
// for 60 s, and logs herd ratio, time to 99% Green and outbox drain. It
// takes a minute of CPU, so it runs only with LOADGEN_DEFAULTS=1:
//
//	LOADGEN_DEFAULTS=1 go test -run TestDefaultsScenario -v ./loadgen/
func TestDefaultsScenario(t *testing.T) {
	if os.Getenv("LOADGEN_DEFAULTS") == "" {
		t.Skip("set LOADGEN_DEFAULTS=1 to run the 10,000-client defaults scenario")
	}
	clients := 10_000
	// LOADGEN_SPREAD sets the recovery spread (default: the SDK's).
	spread, _ := time.ParseDuration(os.Getenv("LOADGEN_SPREAD"))
	// LOADGEN_SLOWDOWN sets the server-directed slow-down (ParseSlowDown).
	var slow SlowDown
	if v := os.Getenv("LOADGEN_SLOWDOWN"); v != "" {
		var err error
		if slow, err = ParseSlowDown(v); err != nil {
			t.Fatal(err)
		}
	}
	// LOADGEN_DRAIN sets the drain rate (default: the SDK's).
	drain, _ := strconv.ParseFloat(os.Getenv("LOADGEN_DRAIN"), 64)
	// LOADGEN_SEED sets the run's seed (default 13).
	seed, err := strconv.ParseUint(os.Getenv("LOADGEN_SEED"), 10, 64)
	if err != nil {
		seed = 13
	}
	variants := []bool{false, true}
	if os.Getenv("LOADGEN_DEFAULTS_ONLY") != "" {
		variants = variants[:1]
	}
	for _, naive := range variants {
		synctest.Test(t, func(t *testing.T) {
			cl := memCluster(t, regsim.Config{Instances: 3, Users: clients, PollInterval: 30 * time.Second})
			defer cl.Close()
			cmds := &cmdCounter{}
			r, err := Run(t.Context(), Config{
				memCluster: cl, wrapTransport: cmds.wrap, Clients: clients, RampUp: 30 * time.Second, Duration: 300 * time.Second,
				PollInterval: 30 * time.Second, InviteRate: 2, Naive: naive, Seed: seed, RecoverySpread: spread, SlowDown: slow, DrainRate: drain,
				Outages: []Outage{{Mode: OutageDown, At: 90 * time.Second, Duration: 60 * time.Second}},
			})
			if err != nil {
				t.Fatal(err)
			}
			o := r.Outages[0]
			if os.Getenv("LOADGEN_DEFAULTS_SERIES") != "" {
				for i, p := range r.Series.Points {
					if at := r.Series.Time(i).Sub(r.Start); at >= 140*time.Second && at < 260*time.Second && (i%3 == 0 || p.Attempts > 1180) {
						t.Logf("%3.0fs att %5d req %5d green %5d outbox %5d %s", at.Seconds(), p.Attempts, p.Requests, p.Green, p.Outbox, cmds.at(int(at.Seconds())))
					}
				}
			}
			t.Logf("naive %v: herd %.2f (peak %.0f/s, steady %.0f/s), green99 %s, green100 %s, drained %s, deliver p99 %s, outbox peak %d",
				naive, o.HerdRatio, o.PeakRate, o.SteadyRate, dOrNever(o.Green99), dOrNever(o.Green100), dOrNever(o.Drain),
				time.Duration(r.Operations[opDeliver].Latency.P99), o.OutboxPeak)
		})
	}
}

// dOrNever is a sampled time as the text report prints it, or "never".
func dOrNever(d *Duration) string {
	if d == nil {
		return "never"
	}
	return fmtSampled(*d)
}

// cmdCounter counts the attempts per second and command, to show what
// a herd is made of (LOADGEN_DEFAULTS_SERIES).
type cmdCounter struct {
	mu    sync.Mutex
	start time.Time
	n     map[int]map[string]int
}

func (c *cmdCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		cmd := r.Method + " " + r.URL.Path
		if r.Body != nil && r.GetBody != nil {
			if b, err := r.GetBody(); err == nil {
				body, _ := io.ReadAll(b)
				if _, rest, ok := bytes.Cut(body, []byte("<command>")); ok {
					if v, _, ok := bytes.Cut(rest, []byte("<")); ok {
						cmd = string(v)
					}
				}
			}
		}
		c.mu.Lock()
		if c.n == nil {
			c.start = time.Now()
			c.n = map[int]map[string]int{}
		}
		sec := int(time.Since(c.start).Seconds())
		if c.n[sec] == nil {
			c.n[sec] = map[string]int{}
		}
		c.n[sec][cmd]++
		c.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (c *cmdCounter) at(sec int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.n[sec]
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s %d", k, m[k])
	}
	return b.String()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
