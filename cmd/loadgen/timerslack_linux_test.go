package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTimerSlackReachesEveryThread runs the built program with
// --timer-slack 1ms against the embedded cluster: the report says 1ms,
// which is the lowest slack of all the process's threads, so the runtime's
// threads started before main (which a prctl in main cannot reach) have it
// too: the program executed itself again with the slack.
func TestTimerSlackReachesEveryThread(t *testing.T) {
	dir := t.TempDir()
	bin := buildLoadgen(t, dir)
	// Without the flag the report gives the slack the program inherits
	// (this test's, on a machine that sets one) when it is not the usual.
	inherited := 0.0
	if cur, err := timerSlack(); err == nil && cur > 50*time.Microsecond {
		inherited = cur.Seconds()
	}
	for _, tc := range []struct {
		args []string
		want float64 // timer_slack in the report, seconds
		text string  // in the text report, "" for none
	}{
		{[]string{"--timer-slack", "1ms"}, 0.001, "timer slack 1ms (in the schedule lag and the latencies from due)"},
		{nil, inherited, ""},
	} {
		out := filepath.Join(dir, "run.json")
		args := append([]string{"--clients", "10", "--duration", "2s", "--ramp-up", "500ms", "--progress", "off", "--out", out}, tc.args...)
		cmd := exec.Command(bin, args...)
		stdout, err := cmd.Output()
		if err != nil {
			t.Fatalf("loadgen %v: %v", args, err)
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Config struct {
				TimerSlack float64 `json:"timer_slack"`
			} `json:"config"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if r.Config.TimerSlack != tc.want {
			t.Errorf("loadgen %v: report's timer_slack %v, want %v", tc.args, r.Config.TimerSlack, tc.want)
		}
		if tc.args == nil && inherited != 0 {
			continue // the text report names the inherited slack
		}
		if got := strings.Contains(string(stdout), "timer slack"); got != (tc.text != "") || tc.text != "" && !strings.Contains(string(stdout), tc.text) {
			t.Errorf("loadgen %v: text report says timer slack: %v, want %q", tc.args, got, tc.text)
		}
	}
}

// TestTimerSlackInATest: run called from a test with --timer-slack does not
// execute the test binary again (which would run the tests in its place):
// the run goes on with the slack it has, and says so on stderr.
func TestTimerSlackInATest(t *testing.T) {
	if os.Getenv(slackExecEnv) != "" {
		t.Fatalf("%s is set: the test binary executed itself again", slackExecEnv)
	}
	cur, err := timerSlack()
	if err != nil {
		t.Skipf("no timer slack to read: %v", err)
	}
	if cur == time.Millisecond {
		t.Skip("the test already runs with 1ms of slack")
	}
	out := filepath.Join(t.TempDir(), "run.json")
	code, _, stderr := runCLI(t, "--clients", "5", "--duration", "1s", "--ramp-up", "200ms", "--progress", "off", "--timer-slack", "1ms", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if want := "--timer-slack: a test does not execute itself again"; !strings.Contains(stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr)
	}
}
