//go:build drill && linux

package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// sim is the regsim child process: two instances sharing one store (the
// "database" of the test plan), switched through its control endpoint.
type sim struct {
	proc    *child
	addrs   []string // instance host:port, direct (not through the network relays)
	control string
	hc      *http.Client
}

// startSim starts cmd/regsim with n instances and users seeded users.
func startSim(ctx context.Context, bin, dir string, n, users int, poll time.Duration) (*sim, error) {
	p, err := startChild("regsim", filepath.Join(dir, "regsim.log"), bin,
		"--addr", "127.0.0.1:0", "--control-addr", "127.0.0.1:0",
		"--instances", strconv.Itoa(n), "--users", strconv.Itoa(users),
		"--poll-interval", poll.String())
	if err != nil {
		return nil, err
	}
	s := &sim{proc: p, hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}}
	ready := func() bool {
		s.addrs, s.control = nil, ""
		serving := false
		for _, l := range p.logLines() {
			f := strings.Fields(l)
			switch {
			case len(f) >= 3 && f[0] == "instance" && strings.HasPrefix(f[2], "http://"):
				s.addrs = append(s.addrs, strings.TrimPrefix(f[2], "http://"))
			case len(f) >= 2 && f[0] == "control:":
				s.control = f[1]
			case strings.HasPrefix(l, "serving until interrupted"):
				serving = true
			}
		}
		return serving || p.exited()
	}
	if _, ok := waitUntil(ctx, 15*time.Second, 20*time.Millisecond, ready); !ok || p.exited() || len(s.addrs) != n || s.control == "" {
		_ = s.close()
		return nil, fmt.Errorf("regsim did not start (%d of %d instances, control %q):\n%s", len(s.addrs), n, s.control, p.logTail(20))
	}
	return s, nil
}

func (s *sim) close() error {
	err := s.proc.stop(10 * time.Second)
	s.hc.CloseIdleConnections()
	return err
}

// post sends a control request.
func (s *sim) post(ctx context.Context, path string, q url.Values) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.control+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("regsim control %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("regsim control %s?%s: HTTP %d: %s", path, q.Encode(), resp.StatusCode, body)
	}
	return nil
}

// setDown stops (or restarts) instance i's server process: listener and
// open connections closed, as with `service httpd stop`.
func (s *sim) setDown(ctx context.Context, i int, down bool) error {
	return s.post(ctx, "/fault", url.Values{"instance": {strconv.Itoa(i)}, "mode": {"down"}, "clear": {strconv.FormatBool(!down)}})
}

// setStoreDown switches the shared store's dbdown fault.
func (s *sim) setStoreDown(ctx context.Context, down bool) error {
	mode := "clear"
	if down {
		mode = "dbdown"
	}
	return s.post(ctx, "/store", url.Values{"mode": {mode}})
}

// counters fetches the cluster's counters.
func (s *sim) counters(ctx context.Context) (regsim.Counters, error) {
	var c regsim.Counters
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.control+"/counters", nil)
	if err != nil {
		return c, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("regsim /counters: HTTP %d", resp.StatusCode)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&c)
	return c, err
}

// rateSeries turns counters into a request-rate series.
func rateSeries(c regsim.Counters) rates {
	return rates{Start: c.Start, Bucket: time.Duration(c.RateBucketMillis) * time.Millisecond, Counts: c.RateSeries}
}

// byInstance returns after−before of the per-instance request counters.
func byInstance(before, after regsim.Counters) []int64 {
	out := make([]int64, len(after.RequestsByInstance))
	for i := range out {
		out[i] = after.RequestsByInstance[i]
		if i < len(before.RequestsByInstance) {
			out[i] -= before.RequestsByInstance[i]
		}
	}
	return out
}
