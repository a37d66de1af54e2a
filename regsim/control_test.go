package regsim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// control sends one request to the control endpoint and decodes the JSON
// answer into out (when non-nil).
func control(t *testing.T, hc *http.Client, c *Cluster, method, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, c.ControlURL()+path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func TestControlEndpoint(t *testing.T) {
	c, hc := startCluster(t, Config{Instances: 2, Users: 1})
	if c.ControlURL() == "" || c.ControlURL() == c.URLs()[0] || c.ControlURL() == c.URLs()[1] {
		t.Fatalf("control URL %q, API URLs %v", c.ControlURL(), c.URLs())
	}
	var index map[string][]string
	if code := control(t, hc, c, "GET", "/", &index); code != 200 || len(index["endpoints"]) == 0 {
		t.Fatalf("index: %d %v", code, index)
	}

	var st ControlState
	steps := []struct {
		path string
		want Fault
	}{
		{"/fault?instance=1&mode=hang", Fault{Hang: true}},
		{"/fault?instance=1&mode=unavailable&retry-after=5", Fault{Hang: true, Unavailable: true, RetryAfter: 5 * time.Second}},
		{"/fault?instance=1&mode=hang&clear=true", Fault{Unavailable: true, RetryAfter: 5 * time.Second}},
		{"/fault?instance=1&mode=latency&latency=100&jitter=50ms", Fault{Unavailable: true, RetryAfter: 5 * time.Second, Latency: 100 * time.Millisecond, Jitter: 50 * time.Millisecond}},
		{"/fault?instance=1&mode=clear", Fault{}},
		{"/fault?instance=1&mode=error-rate&rate=0.25", Fault{ErrorRate: 0.25}},
		{"/fault?instance=1&mode=reset", Fault{ErrorRate: 0.25, Reset: true}},
		{"/fault?instance=1&mode=error-rate&clear=1", Fault{Reset: true}},
		{"/fault?instance=1&mode=clear", Fault{}},
	}
	for _, s := range steps {
		st = ControlState{}
		if code := control(t, hc, c, "POST", s.path, &st); code != 200 {
			t.Fatalf("%s: %d", s.path, code)
		}
		if got := c.Instance(1).Fault(); got != s.want {
			t.Fatalf("%s: fault %+v, want %+v", s.path, got, s.want)
		}
		if st.Instances[1].Fault != s.want || st.Instances[0].Fault != (Fault{}) {
			t.Fatalf("%s: state %+v", s.path, st)
		}
	}

	// instance=all&mode=down: both refuse connections; clearing restores.
	if code := control(t, hc, c, "POST", "/fault?instance=all&mode=down", &st); code != 200 {
		t.Fatalf("all down: %d", code)
	}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, u := range c.URLs() {
		if _, _, err := settings(context.Background(), fresh, u, "s"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("%s while down: %v", u, err)
		}
	}
	control(t, hc, c, "POST", "/fault?instance=all&mode=clear", &st)
	for _, u := range c.URLs() {
		if code, _, err := settings(context.Background(), fresh, u, "s"); code != 200 || err != nil {
			t.Fatalf("%s after clearing: %d %v", u, code, err)
		}
	}

	// Store fault and poll interval.
	if control(t, hc, c, "POST", "/store?mode=dbdown", &st); !st.StoreDown || !c.StoreFault() {
		t.Fatal("dbdown not set")
	}
	if control(t, hc, c, "POST", "/store?mode=clear", &st); st.StoreDown || c.StoreFault() {
		t.Fatal("dbdown not cleared")
	}
	// Where users look for it too: /fault?mode=dbdown.
	if control(t, hc, c, "POST", "/fault?mode=dbdown", &st); !st.StoreDown || !c.StoreFault() {
		t.Fatal("/fault?mode=dbdown did not set it")
	}
	if control(t, hc, c, "POST", "/fault?instance=all&mode=dbdown&clear=true", &st); st.StoreDown || c.StoreFault() {
		t.Fatal("/fault?mode=dbdown&clear=true did not clear it")
	}
	if control(t, hc, c, "POST", "/pollinterval?seconds=60", &st); st.PollIntervalSeconds != 60 {
		t.Fatalf("poll interval %d", st.PollIntervalSeconds)
	}
	s := newSession(t, hc, c.URLs()[0], "user0")
	dev := s.registerDevice(t, "d")
	if v := field(t, s.poll(t, dev, 1), "pollinterval"); v != "60" {
		t.Fatalf("getmessages pollinterval %s", v)
	}
	c.SetPollInterval(0) // back to the configured default
	if v := field(t, s.poll(t, dev, 1), "pollinterval"); v != "30" {
		t.Fatalf("pollinterval after reset %s", v)
	}

	var cs Counters
	if code := control(t, hc, c, "GET", "/counters", &cs); code != 200 || cs.Requests[wire.CmdGetMessages] != 2 || len(cs.RequestsByInstance) != 2 {
		t.Fatalf("counters: %d %+v", code, cs)
	}
	var faults ControlState
	if code := control(t, hc, c, "GET", "/faults", &faults); code != 200 || len(faults.Instances) != 2 || faults.Instances[0].Summary != "none" {
		t.Fatalf("faults: %d %+v", code, faults)
	}

	for _, bad := range []struct{ method, path string }{
		{"POST", "/fault?instance=9&mode=hang"},
		{"POST", "/fault?instance=x&mode=hang"},
		{"POST", "/fault?instance=0&mode=explode"},
		{"POST", "/fault?instance=0&mode=error-rate&rate=2"},
		{"POST", "/fault?instance=0&mode=error-rate&rate=NaN"},
		{"POST", "/fault?instance=0&mode=latency&latency=-5"},
		{"POST", "/fault?instance=0&mode=latency"},
		{"POST", "/fault?instance=0&mode=latency&jitter=5ms"},
		{"POST", "/fault?instance=0&mode=dbdown"},
		{"POST", "/fault?mode=dbdown&clear=maybe"},
		{"POST", "/fault?instance=0&mode=hang&clear=perhaps"},
		{"POST", "/store?mode=flood"},
		{"POST", "/pollinterval?seconds=soon"},
		{"POST", "/pollinterval?seconds=-1"},
	} {
		if code := control(t, hc, c, bad.method, bad.path, nil); code != http.StatusBadRequest {
			t.Errorf("%s %s: %d, want 400", bad.method, bad.path, code)
		}
	}
	if code := control(t, hc, c, "GET", "/fault?instance=0&mode=hang", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /fault: %d", code)
	}
	if c.Instance(0).Fault() != (Fault{}) {
		t.Fatalf("a rejected request changed a fault: %+v", c.Instance(0).Fault())
	}
	// The control endpoint is not on an API port.
	resp, err := hc.Get(c.URLs()[0] + "/counters")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/counters on an API port: %d", resp.StatusCode)
	}
}

func TestStartOptions(t *testing.T) {
	for _, opts := range []StartOptions{
		{Addr: "0.0.0.0:0"},
		{Addr: "192.0.2.1:80"},
		{Addr: ":0"},
		{ControlAddr: "0.0.0.0:0"},
		{Addr: "nonsense"},
		{Addr: "127.0.0.1:65535"}, // two instances pass the last port
	} {
		c, err := Start(Config{Instances: 2}, opts)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("%+v: err %v, want *ConfigError", opts, err)
		}
	}
	// Consecutive ports from a given address: find a free pair first.
	c, err := Start(Config{}, StartOptions{ControlAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	free := strings.TrimPrefix(c.URLs()[0], "http://")
	c.Close()
	c, err = Start(Config{Instances: 1}, StartOptions{Addr: free, ControlAddr: "-"})
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", free, err)
	}
	defer c.Close()
	if c.URLs()[0] != "http://"+free || c.ControlURL() != "" {
		t.Fatalf("URLs %v control %q", c.URLs(), c.ControlURL())
	}
	if _, err := NewCluster(Config{Instances: -1}); err == nil {
		t.Fatal("Instances -1 accepted")
	}
	if _, err := NewCluster(Config{StoragePeriod: -time.Second}); err == nil {
		t.Fatal("negative StoragePeriod accepted")
	}
}

func TestCountersRateSeries(t *testing.T) {
	clk := newFakeClock()
	c, hc := memCluster(t, Config{Users: 1, Now: clk.Now})
	s := newSession(t, hc, c.URLs()[0], "user0")
	s.do(t, wire.CmdGetSettings, "")
	s.do(t, wire.CmdGetSettings, "")
	clk.Advance(250 * time.Millisecond)
	s.do(t, wire.CmdGetSettings, "")
	resp, err := hc.Get(c.URLs()[0] + wire.HealthPath) // not an API request
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := c.Counters()
	if got := cs.RateSeries; len(got) != 3 || got[0] != 3 || got[1] != 0 || got[2] != 1 {
		t.Fatalf("rate series %v, want [3 0 1]", got)
	}
	if cs.RateBucketMillis != 100 || !cs.Start.Equal(newFakeClock().Now()) {
		t.Fatalf("bucket %d start %v", cs.RateBucketMillis, cs.Start)
	}
}

func TestCountersConnections(t *testing.T) {
	c, hc := startCluster(t, Config{})
	c.Instance(0).SetFault(Fault{Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 3)
	body := []byte("<teamdrive><command>getsettings</command></teamdrive>")
	for range 3 {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.URLs()[0]+wire.APIPath, bytesReader(body))
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
	}
	if err := c.WaitStalled(ctx, 3); err != nil {
		t.Fatal(err)
	}
	cs := c.Counters()
	if cs.OpenConns != 3 || cs.PeakConns != 3 || cs.OpenConnsByInstance[0] != 3 || cs.Replies["hang"] != 3 {
		t.Fatalf("open %d peak %d by instance %v replies %v", cs.OpenConns, cs.PeakConns, cs.OpenConnsByInstance, cs.Replies)
	}
	c.Instance(0).SetFault(Fault{})
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestControlConcurrentFaults: control requests that arrive together, each
// switching on another fault of the same instance, all take effect; none
// overwrites another with the instance's faults as it read them before.
func TestControlConcurrentFaults(t *testing.T) {
	c, err := NewCluster(Config{Users: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := c.controlHandler()
	post := func(query string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/fault?instance=0&"+query, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("POST /fault?%s: %d %s", query, rec.Code, rec.Body)
		}
	}
	for range 300 {
		c.Instance(0).SetFault(Fault{})
		var wg sync.WaitGroup
		for _, q := range []string{"mode=latency&latency=100ms", "mode=error-rate&rate=0.5", "mode=reset", "mode=hang"} {
			wg.Go(func() { post(q) })
		}
		wg.Wait()
		want := Fault{Latency: 100 * time.Millisecond, ErrorRate: 0.5, Reset: true, Hang: true}
		if got := c.Instance(0).Fault(); got != want {
			t.Fatalf("after four concurrent control requests the fault is %+v, want %+v", got, want)
		}
	}
	c.Instance(0).SetFault(Fault{})
}

// TestControlErrorsSayWhatToDo checks that a rejected control request names
// the missing parameter or where the setting lives, and changes nothing.
func TestControlErrorsSayWhatToDo(t *testing.T) {
	c, hc := startCluster(t, Config{Instances: 2})
	tests := []struct{ path, mention string }{
		{"/fault?instance=0&mode=latency", "latency="},
		{"/fault?instance=0&mode=latency&jitter=20ms", "latency="},
		{"/fault?instance=0&mode=dbdown", "/store?mode=dbdown"},
		{"/fault?instance=0&mode=explode", "dbdown"},
		{"/store?mode=down", "/fault"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := hc.Post(c.ControlURL()+tt.path, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Error string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body.Error, tt.mention) {
				t.Errorf("%d %q, want 400 naming %q", resp.StatusCode, body.Error, tt.mention)
			}
			if c.Instance(0).Fault() != (Fault{}) || c.StoreFault() {
				t.Errorf("a rejected request changed something: %+v, store down %v", c.Instance(0).Fault(), c.StoreFault())
			}
		})
	}
	// mode=latency&clear=true needs no latency=.
	resp, err := hc.Post(c.ControlURL()+"/fault?instance=0&mode=latency&clear=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("mode=latency&clear=true: %d", resp.StatusCode)
	}
}
