package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/regfleet/regfleet/regsim"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestProbeAgainstCluster runs the plugin against a two-instance simulated
// cluster through the failures of the seed-001 test plan and checks what
// the monitoring would raise.
func TestProbeAgainstCluster(t *testing.T) {
	c, err := regsim.Start(regsim.Config{Instances: 2, Users: 2}, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	urls := c.URLs()
	args := []string{"--url", urls[0], "--url", urls[1], "--timeout", "5s",
		"--warning-latency", "0", "--critical-latency", "0"}
	probe := func() (int, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, &out, &errOut)
		return code, out.String()
	}

	tests := []struct {
		name     string
		set      func()
		wantCode int
		want     []string
	}{
		{"healthy", func() {}, exitOK, []string{"REGSERVER OK - 2/2 endpoints up", urls[0] + ": up", urls[1] + ": up"}},
		{"one instance stopped", func() { c.Instance(1).SetFault(regsim.Fault{Down: true}) }, exitWarning,
			[]string{"REGSERVER WARNING - 1/2 endpoints up", urls[1] + ": down: healthz: connection refused"}},
		{"one instance answering 503", func() { c.Instance(0).SetFault(regsim.Fault{Unavailable: true}) }, exitWarning,
			[]string{"REGSERVER WARNING - 1/2 endpoints up", urls[0] + ": down: healthz: HTTP 503"}},
		{"both instances down", func() {
			c.Instance(0).SetFault(regsim.Fault{Down: true})
			c.Instance(1).SetFault(regsim.Fault{Down: true})
		}, exitCritical, []string{"REGSERVER CRITICAL - 0/2 endpoints up", "up=0;;;0;2"}},
		{"database down", func() { c.SetStoreFault(true) }, exitCritical, []string{"REGSERVER CRITICAL - 0/2 endpoints up"}},
		{"recovered", func() {}, exitOK, []string{"REGSERVER OK - 2/2 endpoints up"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Instance(0).SetFault(regsim.Fault{})
			c.Instance(1).SetFault(regsim.Fault{})
			c.SetStoreFault(false)
			tt.set()
			code, out := probe()
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestProbeWithLogin(t *testing.T) {
	c, err := regsim.Start(regsim.Config{Instances: 1, Users: 1, Salt: "pepper"}, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base := []string{"--url", c.URLs()[0], "--user", "user0", "--timeout", "5s"}
	var out bytes.Buffer
	if code := run(context.Background(), append(base, "--password", regsim.DefaultPassword, "--salt", "pepper"), &out, &out); code != exitOK {
		t.Errorf("with the right password and salt: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), append(base, "--password", "xyzzy-not-it", "--salt", "pepper"), &out, &out); code != exitCritical ||
		!strings.Contains(out.String(), "loginuser: exception -30101") {
		t.Errorf("with a wrong password: exit %d\n%s", code, out.String())
	}
	if strings.Contains(out.String(), "xyzzy") {
		t.Errorf("output shows the password:\n%s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), append(base, "--password", regsim.DefaultPassword), &out, &out); code != exitCritical ||
		!strings.Contains(out.String(), "-30201") {
		t.Errorf("without the salt: exit %d\n%s", code, out.String())
	}
}

func TestProbeTimeout(t *testing.T) {
	c, err := regsim.Start(regsim.Config{Instances: 1}, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Instance(0).SetFault(regsim.Fault{Hang: true})
	defer c.Instance(0).SetFault(regsim.Fault{})
	var out bytes.Buffer
	code := run(context.Background(), []string{"--url", c.URLs()[0], "--timeout", "300ms"}, &out, &out)
	if code != exitCritical || !strings.Contains(out.String(), "timeout") {
		t.Errorf("hung instance: exit %d\n%s", code, out.String())
	}
}
