package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	up := func(d time.Duration) result { return result{url: "http://a", up: true, latency: d} }
	down := result{url: "http://b", reason: "healthz: connection refused"}
	tests := []struct {
		name     string
		results  []result
		warnDown int
		critDown int
		wantCode int
		wantLine string
	}{
		{"all up", []result{up(10 * time.Millisecond), up(20 * time.Millisecond)}, 1, 0, exitOK,
			"REGSERVER OK - 2/2 endpoints up | up=2;;;0;2 time_ms=20.0;500;2000;0"},
		{"one down", []result{up(10 * time.Millisecond), down}, 1, 0, exitWarning,
			"REGSERVER WARNING - 1/2 endpoints up | up=1;;;0;2 time_ms=10.0;500;2000;0"},
		{"all down", []result{down, down}, 1, 0, exitCritical,
			"REGSERVER CRITICAL - 0/2 endpoints up | up=0;;;0;2 time_ms=0.0;500;2000;0"},
		{"one down is critical when told so", []result{up(time.Millisecond), down}, 1, 1, exitCritical,
			"REGSERVER CRITICAL - 1/2 endpoints up"},
		{"slow", []result{up(700 * time.Millisecond)}, 1, 0, exitWarning,
			"REGSERVER WARNING - slowest round trip 700 ms > 500 ms"},
		{"very slow", []result{up(3 * time.Second)}, 1, 0, exitCritical,
			"REGSERVER CRITICAL - slowest round trip 3000 ms > 2000 ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &options{warnLatency: 500 * time.Millisecond, critLatency: 2 * time.Second, warnDown: tt.warnDown, critDown: tt.critDown}
			code, line := summarize(tt.results, o)
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d (%s)", code, tt.wantCode, line)
			}
			if !strings.HasPrefix(line, tt.wantLine) {
				t.Errorf("line = %q, want prefix %q", line, tt.wantLine)
			}
		})
	}
}

func TestBadArgumentsAreUnknown(t *testing.T) {
	tests := []struct {
		args    []string
		mention string
	}{
		{nil, "no --url"},
		{[]string{"--url", "ftp://x"}, "not an http(s) URL"},
		{[]string{"--url", "http://a", "--url", "http://a"}, "given twice"},
		{[]string{"--url", "http://a", "--timeout", "0s"}, "--timeout"},
		{[]string{"--url", "http://a", "--user", "u"}, "--password"},
		{[]string{"--bogus"}, "unknown flag"},
		{[]string{"--url", "http://u:pw@a/?token=secret", "--url", "http://u:pw@a/?token=secret"}, "http://a/"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut)
			if code != exitUnknown {
				t.Errorf("exit %d, want %d", code, exitUnknown)
			}
			if !strings.HasPrefix(out.String(), "REGSERVER UNKNOWN - ") || !strings.Contains(out.String(), tt.mention) {
				t.Errorf("output %q does not say UNKNOWN and %q", out.String(), tt.mention)
			}
			if strings.Contains(out.String(), "secret") || strings.Contains(out.String(), "pw@") {
				t.Errorf("output leaks credentials: %q", out.String())
			}
		})
	}
}
