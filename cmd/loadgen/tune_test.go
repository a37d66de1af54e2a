package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regfleet/regfleet/loadgen"
)

// fakeTune replaces the runs of loadgen tune with f for the test, and
// records the configurations run.
func fakeTune(t *testing.T, f func(loadgen.Config) (*loadgen.Report, error)) *[]loadgen.Config {
	t.Helper()
	var (
		mu   sync.Mutex
		cfgs []loadgen.Config
	)
	old := tuneRun
	tuneRun = func(_ context.Context, cfg loadgen.Config) (*loadgen.Report, error) {
		mu.Lock()
		cfgs = append(cfgs, cfg)
		mu.Unlock()
		return f(cfg)
	}
	t.Cleanup(func() { tuneRun = old })
	return &cfgs
}

// herdReport is the report of a run whose outage left herd ratio herd and
// 99% Green after green99.
func herdReport(cfg loadgen.Config, herd float64, green99 time.Duration) *loadgen.Report {
	g := loadgen.Duration(green99)
	return &loadgen.Report{
		Config:   loadgen.RunConfig{Clients: cfg.Clients},
		Requests: 1000, Errors: 3,
		Outages: []loadgen.OutageFigures{{Outage: "down:15s@40s", SteadyRate: 100, PeakRate: 100 * herd, HerdRatio: herd, Green99: &g}},
	}
}

// byPoll makes herd fall and recovery slow down as the poll interval grows.
func byPoll(cfg loadgen.Config) (*loadgen.Report, error) {
	s := cfg.PollInterval.Seconds()
	return herdReport(cfg, 3-s/15, time.Duration(s)*time.Second+10*time.Second), nil
}

var tuneArgs = []string{"tune", "--clients", "500", "--duration", "90s", "--outage", "down:15s@40s",
	"--poll-interval", "10s,30s", "--recovery-spread", "30s,1m", "--repeat", "2"}

func TestTuneBadFlagsExit2(t *testing.T) {
	fakeTune(t, func(loadgen.Config) (*loadgen.Report, error) {
		t.Error("a run started")
		return nil, errors.New("no")
	})
	tests := []struct {
		args    []string
		mention string
	}{
		{[]string{"--poll-interval", "10s,fast"}, "--poll-interval"},
		{[]string{"--poll-interval", "0s"}, "--poll-interval 0s must be positive"},
		{[]string{"--recovery-spread", "-1s"}, "--recovery-spread -1s must be positive"},
		{[]string{"--drain-rate", "0"}, "--drain-rate 0 must be positive"},
		{[]string{"--slowdown", "60s"}, "--slowdown"},
		{[]string{"--repeat", "0"}, "--repeat must be positive"},
		{[]string{"--clients", "0"}, "--clients must be positive"},
		{[]string{"--goal", "rps>10"}, "--goal"},
		{[]string{"--goal", "herd<"}, "--goal"},
		{[]string{"--outage", "flood:1s@1s"}, "--outage"},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--html", "/nonexistent/t.html"}, "--html /nonexistent/t.html"},
		{[]string{"--out", "/nonexistent/t.json"}, "--out"},
		{[]string{"--outage", "down:30s@80s"}, "ends after the run"},
		{[]string{"--out", os.TempDir()}, "is a directory"},
		{[]string{"--out", filepath.Join(os.TempDir(), "same.x"), "--html", filepath.Join(os.TempDir(), "same.x")}, "name the same file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, append(append([]string{}, tuneArgs...), tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tt.mention) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.mention)
			}
		})
	}
	if code, _, stderr := runCLI(t, "tune", "--clients", "10"); code != exitUsage || !strings.Contains(stderr, "needs an outage") {
		t.Errorf("without an outage: exit %d, %q", code, stderr)
	}
	// Each combination is checked before the first run.
	code, _, stderr := runCLI(t, "tune", "--url", "http://a", "--outage-window", "20s+15s", "--slowdown", "none,60s:1m")
	if code != exitUsage || !strings.Contains(stderr, "needs the embedded cluster") || !strings.Contains(stderr, "(poll 10s spread 1m30s slowdown 1m0s:1m0s)") {
		t.Errorf("a slow-down on an external cluster: exit %d, %q", code, stderr)
	}
}

func TestTuneHelp(t *testing.T) {
	code, stdout, _ := runCLI(t, "tune", "--help")
	if code != exitOK {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{"loadgen tune", "Exit codes: 0 success, 1 no combination meets the --goal, 2 bad flags,", "--poll-interval", "--goal"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help does not say %q", want)
		}
	}
}

// TestTuneFlagsReachTheRuns: the scenario and the swept values reach each
// run's configuration.
func TestTuneFlagsReachTheRuns(t *testing.T) {
	cfgs := fakeTune(t, byPoll)
	code, _, stderr := runCLI(t, "tune", "--clients", "200", "--duration", "2m", "--ramp-up", "5s", "--instances", "2",
		"--outage", "down:15s@40s", "--invite-rate", "0", "--timeout", "3s", "--seed", "42",
		"--poll-interval", "20s", "--recovery-spread", "45s", "--drain-rate", "5,10", "--slowdown", "none,60s:2m", "--repeat", "1",
		"--password", "hunter2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(*cfgs) != 4 {
		t.Fatalf("%d runs, want 2 drain rates × 2 slow-downs", len(*cfgs))
	}
	seeds := map[uint64]bool{}
	for _, c := range *cfgs {
		if c.Clients != 200 || c.Duration != 2*time.Minute || c.RampUp != 5*time.Second || c.Instances != 2 || c.InviteRate != -1 ||
			c.Timeout != 3*time.Second || len(c.Outages) != 1 || c.PollInterval != 20*time.Second || c.RecoverySpread != 45*time.Second {
			t.Errorf("config %+v", c)
		}
		seeds[c.Seed] = true
		if strings.Contains(strings.Join(c.CommandLine, " "), "hunter2") {
			t.Errorf("command line %q carries the password", c.CommandLine)
		}
	}
	if len(seeds) != 4 {
		t.Errorf("seeds %v: want 4 different", seeds)
	}
	last := (*cfgs)[3]
	if last.DrainRate != 10 || last.SlowDown != (loadgen.SlowDown{Interval: time.Minute, For: 2 * time.Minute}) || (*cfgs)[0].SlowDown != (loadgen.SlowDown{}) {
		t.Errorf("drain %v slow-down %s; first slow-down %s", last.DrainRate, last.SlowDown, (*cfgs)[0].SlowDown)
	}
}

func TestTuneRecommendsAndWrites(t *testing.T) {
	fakeTune(t, byPoll)
	dir := t.TempDir()
	out, html := filepath.Join(dir, "tune.json"), filepath.Join(dir, "tune.html")
	code, stdout, stderr := runCLI(t, append(tuneArgs, "--goal", "herd<2.5", "--out", out, "--html", html)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// One plain progress line per run.
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 8 || lines[2] != "run 3/8: poll 30s spread 30s #1: herd 1.00 green99 40s" || strings.Contains(stderr, "\r") {
		t.Errorf("progress %q", lines)
	}
	for _, want := range []string{"4 combinations × 2 runs", "RECOMMENDED for herd<2.5: poll 10s spread 30s", "wrote " + out, "wrote " + html} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, stdout)
		}
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := loadgen.ReadTuneReport(f)
	if err != nil || len(tr.Runs) != 8 || !tr.Recommendation.Met || tr.Scenario.CommandLine[1] != "tune" {
		t.Fatalf("%+v, %v", tr, err)
	}
	page, err := os.ReadFile(html)
	if err != nil || !strings.Contains(string(page), "<svg") || !strings.Contains(string(page), "(recommended)") {
		t.Errorf("html: %v", err)
	}
}

func TestTuneGoalNotMetExit1(t *testing.T) {
	fakeTune(t, byPoll)
	code, stdout, _ := runCLI(t, append(tuneArgs, "--goal", "herd<1.5", "--goal", "green99<30s")...)
	if code != exitThreshold {
		t.Errorf("exit %d, want %d", code, exitThreshold)
	}
	if !strings.Contains(stdout, "GOAL NOT MET: no combination meets herd<1.5 and green99<30s; the closest is") {
		t.Errorf("stdout %s", stdout)
	}
}

func TestTuneFailedRunExit3(t *testing.T) {
	n := 0
	fakeTune(t, func(cfg loadgen.Config) (*loadgen.Report, error) {
		if n++; n == 3 {
			return nil, errors.New("the cluster fell over")
		}
		return byPoll(cfg)
	})
	code, stdout, stderr := runCLI(t, tuneArgs...)
	if code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(stderr, "run 3/8") || !strings.Contains(stderr, "the cluster fell over") {
		t.Errorf("stderr %q", stderr)
	}
	if !strings.Contains(stdout, "STOPPED EARLY after 2 of 8 runs") {
		t.Errorf("the partial table is not printed: %s", stdout)
	}
}

// TestTuneReadsTheScenarioAsARun: the scenario's flags mean the same in a
// sweep as in a run (one definition): --ramp-up 0 starts every client at
// once (tune read it as the 10 s default), --invite-rate 0 sends none, and
// --poll-jitter 0 is refused (tune took it as the SDK's default).
func TestTuneReadsTheScenarioAsARun(t *testing.T) {
	args := []string{"--clients", "10", "--outage", "down:5s@10s", "--ramp-up", "0", "--invite-rate", "0"}
	var out, errOut strings.Builder
	f, err := configureTune(args, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	rc, _, _, err := configure(args, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	b := f.tc.Base
	if b.RampUp != rc.RampUp || b.InviteRate != rc.InviteRate || b.DrainTimeout != rc.DrainTimeout {
		t.Errorf("tune read ramp-up %v, invite-rate %v, drain-timeout %v; a run %v, %v, %v", b.RampUp, b.InviteRate, b.DrainTimeout, rc.RampUp, rc.InviteRate, rc.DrainTimeout)
	}
	if b.RampUp != time.Nanosecond || b.InviteRate != -1 {
		t.Errorf("--ramp-up 0 --invite-rate 0: ramp-up %v, invite rate %v; want all at once and none", b.RampUp, b.InviteRate)
	}
	if _, err := configureTune(append(args, "--poll-jitter", "0"), &out, &errOut); err == nil || !strings.Contains(err.Error(), "--poll-jitter 0") {
		t.Errorf("tune --poll-jitter 0: %v, want refused as a run refuses it", err)
	}
}
