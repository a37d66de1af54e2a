//go:build drill && linux

package drill

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// lb is HAProxy, run as a child process (`haproxy -f cfg -db`).
type lb struct {
	bin     string
	cfgPath string
	logPath string
	cfg     haproxyConfig
	proc    *child
	hc      *http.Client
}

// newLB writes the configuration and checks it with `haproxy -c`.
func newLB(ctx context.Context, dir string, servers []string) (*lb, error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil, fmt.Errorf("haproxy is not installed (Debian: apt-get install -y haproxy): %w", err)
	}
	bind, err := freeAddr()
	if err != nil {
		return nil, err
	}
	stats, err := freeAddr()
	if err != nil {
		return nil, err
	}
	h := &lb{
		bin:     bin,
		cfgPath: filepath.Join(dir, "haproxy.cfg"),
		logPath: filepath.Join(dir, "haproxy.log"),
		cfg: haproxyConfig{
			Bind: bind, StatsBind: stats, Servers: servers,
			CheckInter: 500 * time.Millisecond, Fall: 2, Rise: 2,
			ServerTimeout: 1500 * time.Millisecond,
		},
		hc: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	if err := os.WriteFile(h.cfgPath, []byte(h.cfg.render()), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, bin, "-c", "-f", h.cfgPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy -c: %w\n%s", err, out)
	}
	return h, nil
}

// URL is the service URL the load-balanced clients use.
func (h *lb) URL() string { return "http://" + h.cfg.Bind }

// version returns `haproxy -v`'s first line.
func (h *lb) version(ctx context.Context) string {
	out, _ := exec.CommandContext(ctx, h.bin, "-v").Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return line
}

// start starts HAProxy and waits until it accepts connections and serves
// its stats page.
func (h *lb) start(ctx context.Context) error {
	if h.proc != nil && !h.proc.exited() {
		return fmt.Errorf("haproxy already running")
	}
	p, err := startChild("haproxy", h.logPath, h.bin, "-f", h.cfgPath, "-db")
	if err != nil {
		return err
	}
	h.proc = p
	_, ok := waitUntil(ctx, 10*time.Second, 20*time.Millisecond, func() bool {
		if p.exited() {
			return true
		}
		_, err := h.servers(ctx)
		return err == nil && dialable(h.cfg.Bind)
	})
	if !ok || p.exited() {
		_ = p.stop(time.Second)
		return fmt.Errorf("haproxy did not start:\n%s", p.logTail(20))
	}
	return nil
}

// stop stops HAProxy (SIGTERM: hard stop) and reaps it.
func (h *lb) stop() error {
	if h.proc == nil {
		return nil
	}
	return h.proc.stop(5 * time.Second)
}

func (h *lb) close() error {
	err := h.stop()
	h.hc.CloseIdleConnections()
	return err
}

// servers returns HAProxy's view of each backend server ("UP", "DOWN", …).
func (h *lb) servers(ctx context.Context) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.cfg.StatsBind+"/stats;csv", nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("haproxy stats: HTTP %d", resp.StatusCode)
	}
	return parseStatsCSV(string(data), "regservers")
}

// serverIs reports whether HAProxy sees server name as up (want true) or
// down (want false).
func (h *lb) serverIs(ctx context.Context, name string, want bool) bool {
	s, err := h.servers(ctx)
	if err != nil {
		return false
	}
	st, ok := s[name]
	return ok && serverUp(st) == want
}

// allServers reports whether every server is up (want) or down (!want).
func (h *lb) allServers(ctx context.Context, want bool) bool {
	s, err := h.servers(ctx)
	if err != nil || len(s) == 0 {
		return false
	}
	for _, st := range s {
		if serverUp(st) != want {
			return false
		}
	}
	return true
}

// status GETs path from the service URL and returns the HTTP status, or 0
// and the error when there is no HTTP answer.
func (h *lb) status(ctx context.Context, method, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.URL()+path, strings.NewReader(""))
	if err != nil {
		return 0, err
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
