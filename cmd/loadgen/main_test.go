package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regfleet/regfleet/loadgen"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	code = exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

func TestBadFlagsExit2(t *testing.T) {
	tests := []struct {
		args    []string
		mention string
	}{
		{[]string{"--clients", "many"}, "--clients"},
		{[]string{"--clients", "0"}, "--clients must be positive"},
		{[]string{"--duration", "0s"}, "--duration must be positive"},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"--outage", "flood:1s@1s"}, `unknown mode "flood"`},
		{[]string{"--outage", "down:30s@50s", "--duration", "60s"}, "ends after the run"},
		{[]string{"--url", "http://a", "--outage", "down:1s@1s"}, "embedded cluster"},
		{[]string{"--url", "http://a", "--outage-window", "20s"}, "--outage-window"},
		{[]string{"--url", "http://a", "--outage-window", "50s+20s", "--duration", "60s"}, "--outage-window 50s+20s ends at 1m10s, after the run (--duration 1m0s)"},
		{[]string{"--outage-window", "20s+15s"}, "--outage"},
		{[]string{"--shard", "2/2"}, "--shard"},
		{[]string{"--timer-slack", "20ms"}, "--timer-slack 20ms: want a duration in [0, 10ms]"},
		{[]string{"--timer-slack", "-1ms"}, "--timer-slack -1ms: want a duration in [0, 10ms]"},
		{[]string{"tune", "--poll-interval", "5s", "--timer-slack", "1h"}, "--timer-slack 1h0m0s: want a duration in [0, 10ms]"},
		{[]string{"--threshold", "p99<fast"}, "--threshold"},
		{[]string{"--progress", "sometimes"}, "--progress"},
		{[]string{"--url", "ftp://x"}, `"ftp://x"`},
		{[]string{"--poll-jitter", "2"}, "--poll-jitter 2 is outside [0, 1]"},
		{[]string{"--poll-jitter", "0"}, "--naive"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"merge"}, "name the shard reports"},
		{[]string{"merge", "/nonexistent/a.json"}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tt.mention) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.mention)
			}
		})
	}
}

// TestConfigErrorsNameFlags: every configuration error loadgen.CheckConfig
// can return from the command line names the flags, never a Go field of
// loadgen.Config.
func TestConfigErrorsNameFlags(t *testing.T) {
	tests := []struct {
		args    []string
		message string
	}{
		{[]string{"--clients", "-1"}, "--clients -1: need at least 1"},
		{[]string{"--clients", "1000001"}, "--clients 1000001: at most 1000000"},
		{[]string{"--ramp-up", "-1s"}, "--ramp-up -1s is negative"},
		{[]string{"--duration", "-1s"}, "--duration -1s must be positive"},
		{[]string{"--ramp-up", "5s", "--duration", "2s"}, "--ramp-up 5s is longer than --duration 2s"},
		{[]string{"--poll-interval", "-1s"}, "--poll-interval -1s is negative"},
		{[]string{"--poll-jitter", "1.5"}, "--poll-jitter 1.5 is outside [0, 1]"},
		{[]string{"--invite-rate", "NaN"}, "--invite-rate NaN is not a number"},
		{[]string{"--rate", "-1"}, "--rate -1 must be a finite number"},
		{[]string{"--timeout", "-1s"}, "--timeout -1s is negative"},
		{[]string{"--drain-timeout", "-1s"}, "--drain-timeout -1s is negative"},
		{[]string{"--instances", "65"}, "--instances 65: need 1 to 64"},
		{[]string{"--url", "ftp://x"}, `--url "ftp://x" is not an http(s) URL`},
		{[]string{"--url", "http://a", "--backup-url", "b"}, `--backup-url "b" is not an http(s) URL`},
		{[]string{"--user-prefix", "load"}, "another prefix needs --url"},
		{[]string{"--backup-url", "http://b"}, `--backup-url "http://b" needs --url`},
		{[]string{"--url", "http://a", "--outage", "down:1s@1s"}, "--outage down:1s@1s needs the embedded cluster (no --url)"},
		{[]string{"--outage-window", "20s+15s"}, "(--url); the embedded cluster switches its own with --outage"},
		{[]string{"--url", "http://a", "--outage-window", "50s+20s", "--duration", "60s"}, "after the run (--duration 1m0s)"},
		{[]string{"--outage", "down:30s@50s", "--duration", "60s"}, "--outage down:30s@50s ends after the run (--duration 1m0s)"},
		{[]string{"--instances", "2", "--outage", "instances=2:hang:1s@1s"}, "names instance 2, but --instances is 2"},
	}
	fields := reflect.TypeFor[loadgen.Config]()
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tt.message) {
				t.Errorf("stderr %q does not say %q", stderr, tt.message)
			}
			for i := range fields.NumField() {
				if f := fields.Field(i); f.IsExported() && regexp.MustCompile(`\b`+f.Name+`\b`).MatchString(stderr) {
					t.Errorf("stderr %q names the Go field %s", stderr, f.Name)
				}
			}
		})
	}
}

// TestThresholdsAndMerge runs two shards of a small fleet against the
// embedded cluster, checks that a crossed threshold exits 1 and a held one
// 0, and that merging the shard reports counts both shards.
func TestThresholdsAndMerge(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time run")
	}
	dir := t.TempDir()
	common := []string{"--clients", "6", "--duration", "2s", "--ramp-up", "100ms", "--poll-interval", "500ms",
		"--drain-timeout", "1s", "--progress", "off", "--seed", "5"}
	// The shards of one run run at the same time (merge refuses shards
	// that do not overlap).
	shard0, shard1 := filepath.Join(dir, "0.json"), filepath.Join(dir, "1.json")
	type result struct {
		code           int
		stdout, stderr string
	}
	var r0, r1 result
	var wg sync.WaitGroup
	wg.Go(func() {
		r0.code, r0.stdout, r0.stderr = runCLI(t, append(common, "--shard", "0/2", "--out", shard0, "--threshold", "errors<100%")...)
	})
	wg.Go(func() {
		r1.code, r1.stdout, r1.stderr = runCLI(t, append(common, "--shard", "1/2", "--out", shard1, "--threshold", "p50<1ns")...)
	})
	wg.Wait()
	if r0.code != exitOK {
		t.Fatalf("shard 0: exit %d\n%s\n%s", r0.code, r0.stdout, r0.stderr)
	}
	if r1.code != exitThreshold || !strings.Contains(r1.stdout, "✗ p50<1ns crossed: ") {
		t.Fatalf("shard 1 with an impossible threshold: exit %d\n%s", r1.code, r1.stdout)
	}
	html := filepath.Join(dir, "fleet.html")
	hgrm := filepath.Join(dir, "fleet.hgrm")
	code, out, stderr := runCLI(t, "merge", shard0, shard1, "--html", html, "--hgrm", hgrm)
	if code != exitOK {
		t.Fatalf("merge: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "merged from 2 shards") {
		t.Errorf("merged summary does not say so:\n%s", out)
	}
	for _, f := range []string{html, hgrm} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	// A saved shard report renders again with its thresholds, and two
	// line up, their configurations told apart.
	code, out, stderr = runCLI(t, "report", shard0, "--threshold", "errors<100%", "--html", filepath.Join(dir, "0.html"))
	if code != exitOK || !strings.Contains(out, "shard 0/2") || !strings.Contains(out, "✓ errors<100% held: ") {
		t.Errorf("report of shard 0: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "compare", shard0, shard1)
	if code != exitOK || !regexp.MustCompile(`config\.shard +0/2 +→ 1/2`).MatchString(out) || !strings.Contains(out, "p99{getmessages}") {
		t.Errorf("compare of the shards: exit %d\n%s\n%s", code, out, stderr)
	}
	// The same shard twice is refused, naming both files.
	code, _, stderr = runCLI(t, "merge", shard0, shard1, shard0)
	if code != exitUsage || !strings.Contains(stderr, "report 0 ("+shard0+") and report 2 ("+shard0+")") || !strings.Contains(stderr, "the same shard twice") {
		t.Errorf("the same shard twice: exit %d\n%s", code, stderr)
	}
	// One shard of two merges, as a partial report.
	code, out, _ = runCLI(t, "merge", shard1)
	if code != exitOK || !strings.Contains(out, "partial: shard 0/2 missing") {
		t.Errorf("one shard of two: exit %d\n%s", code, out)
	}
}

// TestRunFailureExit3: a run that cannot start (here: the outbox directory
// cannot be created) exits 3 with one message naming the cause.
func TestRunFailureExit3(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "--outbox-dir", filepath.Join(file, "outboxes"), "--clients", "2",
		"--duration", "2s", "--ramp-up", "1s", "--progress", "off")
	if code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(stderr, "outbox directory") || !strings.Contains(stderr, "not a directory") {
		t.Errorf("stderr %q does not name the outbox directory and why", stderr)
	}
	if strings.Count(stderr, "loadgen:") != 1 {
		t.Errorf("stderr %q: want one \"loadgen:\" prefix", stderr)
	}
}

// TestDrainTimeoutDefault: left to its default, --drain-timeout reaches
// the engine as zero, which stretches the drain to one effective poll
// interval; given, it is kept; 0 is no drain.
func TestDrainTimeoutDefault(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 0},
		{[]string{"--drain-timeout", "30s"}, 30 * time.Second},
		{[]string{"--drain-timeout", "0"}, time.Nanosecond},
	} {
		cfg, _, _, err := configure(tc.args, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DrainTimeout != tc.want {
			t.Errorf("%v: DrainTimeout %s, want %s", tc.args, cfg.DrainTimeout, tc.want)
		}
	}
}

// TestCommandLineRedacted: the command line a report carries holds no
// password, salt or URL credentials.
func TestCommandLineRedacted(t *testing.T) {
	got := strings.Join(commandLine([]string{"--clients", "5", "--password", "hunter2", "--salt=pepper",
		"--url", "https://bob:secret@reg.example", "--url=https://al:pw@reg2.example"}), " ")
	for _, secret := range []string{"hunter2", "pepper", "secret", ":pw@"} {
		if strings.Contains(got, secret) {
			t.Errorf("command line %q holds %q", got, secret)
		}
	}
	if !strings.Contains(got, "--clients 5") || !strings.Contains(got, "reg.example") {
		t.Errorf("command line %q lost its flags", got)
	}
}

// TestRampUpZero: --ramp-up 0 starts every client at once; it used to mean
// the 10 s default.
func TestRampUpZero(t *testing.T) {
	cfg, _, _, err := configure([]string{"--ramp-up", "0s"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RampUp != time.Nanosecond {
		t.Errorf("--ramp-up 0: RampUp %s, want all at once", cfg.RampUp)
	}
}
