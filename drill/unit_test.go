package drill

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRates(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	// 10 per 100 ms bucket (100/s) for 5 s, then a burst of 30 per bucket
	// for 0.5 s, then 10 again; the series ends early (no trailing zeros).
	var counts []int64
	for range 50 {
		counts = append(counts, 10)
	}
	for range 5 {
		counts = append(counts, 30)
	}
	for range 20 {
		counts = append(counts, 10)
	}
	s := rates{Start: start, Bucket: 100 * time.Millisecond, Counts: counts}

	tests := []struct {
		name                 string
		sf, st, pf, pt       time.Duration
		wantSteady, wantPeak float64
		wantRatio            float64
		wantOK               bool
	}{
		{"burst", 0, 5 * time.Second, 5 * time.Second, 7 * time.Second, 100, 200, 2, true},
		{"flat", 0, 2 * time.Second, 0, 4 * time.Second, 100, 100, 1, true},
		{"after the series ends counts zero", 0, time.Second, 7 * time.Second, 10 * time.Second, 100, 50, 0.5, true},
		{"no steady traffic", 20 * time.Second, 25 * time.Second, 0, 2 * time.Second, 0, 100, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ratio, steady, peak, ok := s.herdRatio(at(tc.sf), at(tc.st), at(tc.pf), at(tc.pt))
			if ok != tc.wantOK || math.Abs(steady-tc.wantSteady) > 1e-9 || math.Abs(peak-tc.wantPeak) > 1e-9 ||
				math.Abs(ratio-tc.wantRatio) > 1e-9 {
				t.Fatalf("herdRatio = %v, %v, %v, %v; want %v, %v, %v, %v",
					ratio, steady, peak, ok, tc.wantRatio, tc.wantSteady, tc.wantPeak, tc.wantOK)
			}
		})
	}
}

func TestHAProxyConfig(t *testing.T) {
	cfg := haproxyConfig{
		Bind: "127.0.0.1:1000", StatsBind: "127.0.0.1:1001",
		Servers:    []string{"127.0.0.1:2000", "127.0.0.1:2001"},
		CheckInter: 500 * time.Millisecond, Fall: 2, Rise: 2, ServerTimeout: 1500 * time.Millisecond,
	}.render()
	for _, want := range []string{
		"mode http", "balance roundrobin", "option httpchk GET /healthz", "http-check expect status 200",
		"default-server inter 500ms fall 2 rise 2", "timeout server 1500ms",
		"bind 127.0.0.1:1000", "bind 127.0.0.1:1001",
		"server inst0 127.0.0.1:2000 check", "server inst1 127.0.0.1:2001 check",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

func TestParseStatsCSV(t *testing.T) {
	csv := "# pxname,svname,qcur,status,weight\n" +
		"regfleet,FRONTEND,,OPEN,\n" +
		"regservers,inst0,0,UP,1\n" +
		"regservers,inst1,0,DOWN 1/2,1\n" +
		"regservers,BACKEND,0,UP,1\n" +
		"stats,FRONTEND,,OPEN,\n"
	got, err := parseStatsCSV(csv, "regservers")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["inst0"] != "UP" || got["inst1"] != "DOWN 1/2" {
		t.Fatalf("got %v", got)
	}
	if !serverUp(got["inst0"]) || serverUp(got["inst1"]) || !serverUp("UP 1/2") {
		t.Fatal("serverUp misreads a status")
	}
	if _, err := parseStatsCSV("<html>", "regservers"); err == nil {
		t.Fatal("accepted a page that is not CSV")
	}
}

func TestTableAndJSON(t *testing.T) {
	good := result{Scenario: "1a", How: "Fault{Down}", Expected: "no failure", HerdRatio: ptr(1.25)}
	good.expect("clients stay Green", "0 Red", true, "%d Red", 0)
	good.finish()
	bad := result{Scenario: "2", Expected: "all Green", TimeToGreenSeconds: ptr(3.5), Lost: 1}
	bad.expect("delivered", "all", false, "%d lost", 1)
	bad.note("a note")
	bad.finish()
	empty := result{Scenario: "3"}
	empty.finish()
	if !good.Pass || bad.Pass || empty.Pass {
		t.Fatalf("Pass = %v, %v, %v; want true, false, false (no checks is no pass)", good.Pass, bad.Pass, empty.Pass)
	}

	var buf bytes.Buffer
	if err := writeTable(&buf, []result{good, bad}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"SCENARIO", "1.25", "3.5s", "PASS", "FAIL", "BAD delivered", "a note"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	path := filepath.Join(t.TempDir(), "drill.json")
	if err := writeJSON(path, report{Results: []result{good, bad}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 2 || back.Results[1].Lost != 1 || back.Results[0].TimeToGreenSeconds != nil {
		t.Fatalf("round trip: %+v", back.Results)
	}
}
