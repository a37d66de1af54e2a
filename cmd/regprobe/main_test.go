package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

const ms1234 = 1234 * time.Microsecond // every round trip in TestExitPaths

// TestExitPaths runs the plugin through every way it can end, against
// loopback servers as the world has them, and checks the exit code, the
// exact status line and the long text.
func TestExitPaths(t *testing.T) {
	c := startCluster(t, regsim.Config{Instances: 2, Users: 1})
	salted := startCluster(t, regsim.Config{Instances: 1, Users: 1, Salt: "pepper"})
	u0, u1 := c.URLs()[0], c.URLs()[1]
	h0, h1 := strings.TrimPrefix(u0, "http://"), strings.TrimPrefix(u1, "http://")
	host0, port0, _ := strings.Cut(h0, ":")
	target, _ := url.Parse(u0)
	lb := httptest.NewServer(httputil.NewSingleHostReverseProxy(target)) // the service's address, in front of instance 0
	t.Cleanup(lb.Close)
	silent := startSilent(t)
	hs := strings.TrimPrefix(silent.URL(), "http://")
	proxy502 := htmlServer(t, 502)
	lb503 := htmlServer(t, 503)
	h503 := strings.TrimPrefix(lb503.URL, "http://")
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html><html><title>Sign in to the Wi-Fi</title></html>"))
	}))
	t.Cleanup(portal.Close)

	env := map[string]string{"REGPROBE_PASSWORD": regsim.DefaultPassword}
	login := []string{"--user", "user0"}
	perfOK1 := "time=1.234ms;500;2000;0;10000 up=1;1:;1:;0;1"
	perfDown1 := "time=U;500;2000;0;10000 up=0;1:;1:;0;1"
	dbReason := "database unavailable (loginuser: exception -12507 (2003): Can't connect to MySQL server), /healthz 503"

	tests := []struct {
		name    string
		set     func()
		args    []string
		elapsed time.Duration
		code    int
		first   string
		long    []string
	}{
		{name: "instance up (-H -p)", args: []string{"-H", host0, "-p", port0},
			code: 0, first: "REGSERVER OK - " + u0 + " up, round trip 1.234 ms | " + perfOK1,
			long: []string{u0 + ": up, 1.234 ms"}},
		{name: "instance up, logged in", args: append([]string{"--url", u0}, login...),
			code: 0, first: "REGSERVER OK - " + u0 + " up, round trip 1.234 ms | " + perfOK1},
		{name: "two endpoints up", args: append([]string{"--url", u0, "--url", u1}, login...),
			code: 0, first: "REGSERVER OK - 2/2 endpoints up | up=2;2:;1:;0;2 '" + h0 + " time'=1.234ms;500;2000;0;10000 '" + h1 + " time'=1.234ms;500;2000;0;10000",
			long: []string{u0 + ": up, 1.234 ms", u1 + ": up, 1.234 ms"}},
		{name: "service up", args: append([]string{"--url", lb.URL, "--instance", u0, "--instance", u1}, login...),
			code: 0, first: "REGSERVER OK - service up, round trip 1.234 ms; 2/2 instances up | time=1.234ms;500;2000;0;10000 up=2;2:;1:;0;2 '" + h0 + " time'=1.234ms;500;2000;0;10000 '" + h1 + " time'=1.234ms;500;2000;0;10000",
			long: []string{"service " + lb.URL + ": up, 1.234 ms", "instance " + u0 + ": up, 1.234 ms", "instance " + u1 + ": up, 1.234 ms"}},

		{name: "slow: WARNING", args: []string{"--url", u0}, elapsed: 712 * time.Millisecond,
			code: 1, first: "REGSERVER WARNING - " + u0 + " round trip 712 ms > 500 ms (-w) | time=712ms;500;2000;0;10000 up=1;1:;1:;0;1"},
		{name: "thresholds below 1 ms", args: []string{"--url", u0, "-w", "0.5", "-c", "2"},
			code: 1, first: "REGSERVER WARNING - " + u0 + " round trip 1.234 ms > 0.5 ms (-w) | time=1.234ms;0.5;2;0;10000 up=1;1:;1:;0;1"},
		{name: "slow: CRITICAL", args: []string{"--url", u0, "-w", "0.5", "-c", "0.9"},
			code: 2, first: "REGSERVER CRITICAL - " + u0 + " round trip 1.234 ms > 0.9 ms (-c) | time=1.234ms;0.5;0.9;0;10000 up=1;1:;1:;0;1"},
		{name: "inside range", args: []string{"--url", u0, "-w", "@1:2", "-c", ""},
			code: 1, first: "REGSERVER WARNING - " + u0 + " round trip 1.234 ms inside @1:2 ms (-w) | time=1.234ms;@1:2;;0;10000 up=1;1:;1:;0;1"},
		{name: "slowest of two", args: []string{"--url", u0, "--url", u1, "-w", "1"},
			code: 1, first: "REGSERVER WARNING - 2/2 endpoints up; slowest round trip 1.234 ms > 1 ms (-w) at " + u0 + " | up=2;2:;1:;0;2 '" + h0 + " time'=1.234ms;1;2000;0;10000 '" + h1 + " time'=1.234ms;1;2000;0;10000"},

		{name: "one of two stopped: WARNING", set: func() { c.Instance(1).SetFault(regsim.Fault{Down: true}) },
			args: append([]string{"--url", u0, "--url", u1}, login...),
			code: 1, first: "REGSERVER WARNING - 1/2 endpoints up; " + u1 + ": connection refused (no process listening) | up=1;2:;1:;0;2 '" + h0 + " time'=1.234ms;500;2000;0;10000 '" + h1 + " time'=U;500;2000;0;10000",
			long: []string{u0 + ": up, 1.234 ms", u1 + ": down: connection refused (no process listening)"}},
		{name: "service, an instance stopped: WARNING", set: func() { c.Instance(1).SetFault(regsim.Fault{Down: true}) },
			args: append([]string{"--url", lb.URL, "--instance", u0, "--instance", u1}, login...),
			code: 1, first: "REGSERVER WARNING - service up, round trip 1.234 ms; 1/2 instances up; " + u1 + ": connection refused (no process listening) | time=1.234ms;500;2000;0;10000 up=1;2:;1:;0;2 '" + h0 + " time'=1.234ms;500;2000;0;10000 '" + h1 + " time'=U;500;2000;0;10000",
			long: []string{"service " + lb.URL + ": up, 1.234 ms", "instance " + u0 + ": up, 1.234 ms", "instance " + u1 + ": down: connection refused (no process listening)"}},
		{name: "that instance on its own: CRITICAL", set: func() { c.Instance(1).SetFault(regsim.Fault{Down: true}) },
			args: append([]string{"--url", u1}, login...),
			code: 2, first: "REGSERVER CRITICAL - " + u1 + ": connection refused (no process listening) | " + perfDown1,
			long: []string{u1 + ": down: connection refused (no process listening)"}},
		{name: "instance answering 503", set: func() { c.Instance(0).SetFault(regsim.Fault{Unavailable: true}) },
			args: []string{"--url", u0},
			code: 2, first: "REGSERVER CRITICAL - " + u0 + ": /healthz HTTP 503 Service Unavailable: \"service unavailable\" | " + perfDown1},
		{name: "both stopped", set: func() {
			c.Instance(0).SetFault(regsim.Fault{Down: true})
			c.Instance(1).SetFault(regsim.Fault{Down: true})
		}, args: []string{"--url", u0, "--url", u1},
			code: 2, first: "REGSERVER CRITICAL - 0/2 endpoints up: connection refused (no process listening) | up=0;2:;1:;0;2 '" + h0 + " time'=U;500;2000;0;10000 '" + h1 + " time'=U;500;2000;0;10000"},
		{name: "database down", set: func() { c.SetStoreFault(true) }, args: append([]string{"--url", u0}, login...),
			code: 2, first: "REGSERVER CRITICAL - " + u0 + ": " + dbReason + " | " + perfDown1,
			long: []string{u0 + ": down: " + dbReason}},
		{name: "database down, without login", set: func() { c.SetStoreFault(true) }, args: []string{"--url", u0},
			code: 2, first: "REGSERVER CRITICAL - " + u0 + ": database unavailable (getsettings: exception -12507 (2003): Can't connect to MySQL server), /healthz 503 | " + perfDown1},
		{name: "database down, service behind a proxy", set: func() { c.SetStoreFault(true) },
			args: append([]string{"--url", lb503.URL, "--instance", u0, "--instance", u1}, login...),
			code: 2, first: "REGSERVER CRITICAL - service down: /healthz HTTP 503 Service Unavailable (an HTML page: a proxy or web server answered, not the Registration Server); 0/2 instances up: " + dbReason +
				" | time=U;500;2000;0;10000 up=0;2:;1:;0;2 '" + h0 + " time'=U;500;2000;0;10000 '" + h1 + " time'=U;500;2000;0;10000"},
		{name: "database down behind the proxy, service only", set: func() { c.SetStoreFault(true) },
			args: []string{"-H", strings.Split(h503, ":")[0], "-p", strings.Split(h503, ":")[1]},
			code: 2, first: "REGSERVER CRITICAL - " + lb503.URL + ": /healthz HTTP 503 Service Unavailable (an HTML page: a proxy or web server answered, not the Registration Server) | " + perfDown1},
		{name: "proxy's 502 page", args: []string{"--url", proxy502.URL},
			code: 2, first: "REGSERVER CRITICAL - " + proxy502.URL + ": /healthz HTTP 502 Bad Gateway (an HTML page: a proxy or web server answered, not the Registration Server) | " + perfDown1},
		{name: "https to a plain HTTP port", args: []string{"-H", host0, "-p", port0, "-S"},
			code: 2, first: "REGSERVER CRITICAL - https://" + h0 + ": not TLS: the port speaks plain HTTP (use http:// or drop -S) | " + perfDown1},
		{name: "a portal's page on the API path", args: []string{"--url", portal.URL},
			code: 2, first: "REGSERVER CRITICAL - " + portal.URL + ": getsettings: not a Registration Server reply (an HTML page: a proxy, portal or web server answered) | " + perfDown1},
		{name: "hang", args: []string{"--url", silent.URL(), "-t", "300ms"},
			code: 2, first: "REGSERVER CRITICAL - " + silent.URL() + ": no reply within 300ms (connected; the server accepts and does not answer) | time=U;500;2000;0;300 up=0;1:;1:;0;1"},
		{name: "hang, next to a live one", args: []string{"--url", u0, "--url", silent.URL(), "-t", "0.3"},
			code: 1, first: "REGSERVER WARNING - 1/2 endpoints up; " + silent.URL() + ": no reply within 300ms (connected; the server accepts and does not answer) | up=1;2:;1:;0;2 '" + h0 + " time'=1.234ms;500;2000;0;300 '" + hs + " time'=U;500;2000;0;300"},

		{name: "wrong password: UNKNOWN", args: []string{"--url", u0, "--user", "user0", "--password", "xyzzy-not-it"},
			code: 3, first: "REGSERVER UNKNOWN - " + u0 + ": login as user0 refused (exception -30101: Wrong password): check --user and --password | time=U;500;2000;0;10000 up=U;1:;1:;0;1"},
		{name: "unknown user: UNKNOWN", args: []string{"--url", u0, "--user", "nobody"},
			code: 3, first: "REGSERVER UNKNOWN - " + u0 + ": login as nobody refused (exception -30100: Username does not exist): check --user and --password | time=U;500;2000;0;10000 up=U;1:;1:;0;1"},
		{name: "salt missing: UNKNOWN", args: append([]string{"--url", salted.URLs()[0]}, login...),
			code: 3, first: "REGSERVER UNKNOWN - " + salted.URLs()[0] + ": loginuser refused the checksum (exception -30201: Checksum mismatch): check --salt | time=U;500;2000;0;10000 up=U;1:;1:;0;1"},
		{name: "salt right", args: append([]string{"--url", salted.URLs()[0], "--salt", "pepper"}, login...),
			code: 0, first: "REGSERVER OK - " + salted.URLs()[0] + " up, round trip 1.234 ms | " + perfOK1},
		{name: "wrong password beats one down", set: func() { c.Instance(1).SetFault(regsim.Fault{Down: true}) },
			args: []string{"--url", u0, "--url", u1, "--user", "user0", "--password", "xyzzy-not-it"},
			code: 3, first: "REGSERVER UNKNOWN - 0/2 endpoints up; " + u0 + ": login as user0 refused (exception -30101: Wrong password): check --user and --password; " + u1 + ": connection refused (no process listening) | up=U;2:;1:;0;2 '" + h0 + " time'=U;500;2000;0;10000 '" + h1 + " time'=U;500;2000;0;10000"},
		{name: "an outage beats a wrong password", set: func() {
			c.Instance(0).SetFault(regsim.Fault{Down: true})
			c.Instance(1).SetFault(regsim.Fault{Down: true})
		}, args: []string{"--url", u0, "--url", u1, "--url", salted.URLs()[0], "--critical-down", "2", "--user", "user0"},
			code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Instance(0).SetFault(regsim.Fault{})
			c.Instance(1).SetFault(regsim.Fault{})
			c.SetStoreFault(false)
			defer func() {
				c.Instance(0).SetFault(regsim.Fault{})
				c.Instance(1).SetFault(regsim.Fault{})
				c.SetStoreFault(false)
			}()
			if tt.set != nil {
				tt.set()
			}
			elapsed := tt.elapsed
			if elapsed == 0 {
				elapsed = ms1234
			}
			r := runProbe(context.Background(), t, env, elapsed, tt.args...)
			checkOutput(t, r)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tt.code, r.out)
			}
			if tt.first != "" && r.first != tt.first {
				t.Errorf("first line\n got %s\nwant %s", r.first, tt.first)
			}
			if tt.long != nil && strings.Join(r.long, "\n") != strings.Join(tt.long, "\n") {
				t.Errorf("long text\n got %q\nwant %q", r.long, tt.long)
			}
			if strings.Contains(r.out, "xyzzy") || strings.Contains(r.out, regsim.DefaultPassword) {
				t.Errorf("the output shows a password:\n%s", r.out)
			}
		})
	}
}

// TestInterrupted checks that a check stopped by SIGTERM or Ctrl-C (the
// context ends) is UNKNOWN, not an outage.
func TestInterrupted(t *testing.T) {
	silent := startSilent(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-silent.accepted // the request is on its way: interrupt
		cancel()
	}()
	r := runProbe(ctx, t, nil, 0, "--url", silent.URL())
	checkOutput(t, r)
	want := "REGSERVER UNKNOWN - " + silent.URL() + ": check interrupted (SIGTERM or Ctrl-C) before a reply | time=U;500;2000;0;10000 up=U;1:;1:;0;1"
	if r.code != 3 || r.first != want {
		t.Errorf("exit %d\n got %s\nwant %s", r.code, r.first, want)
	}
}

// TestBadArguments checks that every bad command line exits 3 with one
// UNKNOWN line and nothing else, and never shows a credential.
func TestBadArguments(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	const tail = " (see regprobe --help)"
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no endpoint: give -H HOST or --url URL" + tail},
		{[]string{"--url", "ftp://x"}, `"ftp://x" is not an http(s) URL` + tail},
		{[]string{"--url", "http://"}, `"http:" is not an http(s) URL` + tail},
		{[]string{"--url", "http://a:99999"}, `"http://a:99999": "99999" is not a port` + tail},
		{[]string{"--url", "http://a", "--url", "http://a/"}, "http://a/ given twice" + tail},
		{[]string{"--url", "http://u:pw@a/?token=secret", "--url", "http://u:pw@a/?token=secret"}, "http://a/ given twice" + tail},
		{[]string{"-H", "http://a"}, `-H "http://a" is not a host name or address (a URL goes to --url)` + tail},
		{[]string{"-p", "8080", "--url", "http://a"}, "-p/--port needs -H/--hostname" + tail},
		{[]string{"-S", "--url", "http://a"}, "-S/--ssl needs -H/--hostname" + tail},
		{[]string{"-H", "a", "-p", "70000"}, "-p/--port 70000 is not a port" + tail},
		{[]string{"--url", "http://a", "-t", "0"}, `-t/--timeout "0": seconds must be in (0, 3600]` + tail},
		{[]string{"--url", "http://a", "-t", "soon"}, `-t/--timeout "soon" is neither seconds nor a duration` + tail},
		{[]string{"--url", "http://a", "-t", "-1s"}, `-t/--timeout "-1s" must be in (0, 1h]` + tail},
		{[]string{"--url", "http://a", "-w", "20:10"}, `-w/--warning: not a range: "20:10": start is greater than end (ranges: 500, 10:, ~:500, 10:500, @10:500; in ms)` + tail},
		{[]string{"--url", "http://a", "-c", "1e3"}, `-c/--critical: not a range: "1e3": end: "1e3" is not a decimal number (ranges: 500, 10:, ~:500, 10:500, @10:500; in ms)` + tail},
		{[]string{"--url", "http://a", "--warning-down", "-1"}, "--warning-down and --critical-down must not be negative" + tail},
		{[]string{"--url", "http://a", "--user", "u"}, "--user needs --password or REGPROBE_PASSWORD" + tail},
		{[]string{"--url", "http://a", "--password", "pw"}, "--password without --user" + tail},
		{[]string{"--instance", "http://a"}, "no endpoint: give -H HOST or --url URL" + tail},
		{[]string{"--url", "http://lb", "--url", "http://lb2", "--instance", "http://a"}, "--instance needs exactly one -H or --url, the service's (load balancer's) address; 2 given" + tail},
		{[]string{"--url", "http://lb", "--instance", "http://lb"}, "http://lb given twice" + tail},
		{[]string{"--bogus"}, "unknown flag: --bogus" + tail},
		{[]string{"-x"}, "unknown shorthand flag: 'x' in -x" + tail},
		{[]string{"--url"}, "flag needs an argument: --url" + tail},
		{[]string{"--url", "http://a", "extra"}, `unexpected argument "extra" (every option has a name, see --help)` + tail},
		{[]string{"--url", "http://a", "--ca-file", filepath.Join(dir, "missing.pem")}, "--ca-file: open " + filepath.Join(dir, "missing.pem") + ": no such file or directory"},
		{[]string{"--url", "http://a", "--ca-file", notPEM}, "--ca-file " + notPEM + ": no PEM certificates in it"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runProbe(context.Background(), t, nil, 0, tt.args...)
			checkOutput(t, r)
			want := "REGSERVER UNKNOWN - " + tt.want
			if r.code != 3 || r.out != want+"\n" {
				t.Errorf("exit %d\n got %q\nwant %q", r.code, r.out, want+"\n")
			}
			if strings.Contains(r.out, "secret") || strings.Contains(r.out, "pw@") {
				t.Errorf("the output shows a credential: %q", r.out)
			}
		})
	}
}

// TestHelpAndVersion checks that --help and --version print on stdout,
// with no status line, exit 0, and win over any other argument.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"--bogus", "-h"}, {"--url", "ftp://x", "--help"}} {
		r := runProbe(context.Background(), t, nil, 0, args...)
		if r.code != 0 || strings.HasPrefix(r.out, "REGSERVER") || !strings.HasPrefix(r.first, "regprobe checks a Registration Server") {
			t.Errorf("%q: exit %d\n%s", args, r.code, r.out)
		}
		for _, flag := range []string{"-H, --hostname", "-p, --port", "-S, --ssl", "-w, --warning", "-c, --critical", "-t, --timeout", "-V, --version", "-h, --help", "--instance", "--url", "REGPROBE_PASSWORD", "@10:500"} {
			if !strings.Contains(r.out, flag) {
				t.Errorf("%q: the help does not mention %s", args, flag)
			}
		}
	}
	for _, args := range [][]string{{"--version"}, {"-V"}, {"-V", "--bogus"}} {
		r := runProbe(context.Background(), t, nil, 0, args...)
		if r.code != 0 || len(r.long) != 0 || !strings.HasPrefix(r.first, "regprobe ") || strings.HasPrefix(r.out, "REGSERVER") {
			t.Errorf("%q: exit %d\n%s", args, r.code, r.out)
		}
	}
}

// TestTransportFailureNames checks the name given to each way a request can
// get no reply, the ones loopback cannot stage included (a SYN that nobody
// answers, a TLS handshake that stalls).
func TestTransportFailureNames(t *testing.T) {
	p := &prober{timeout: 3 * time.Second}
	connected, ready := &tracer{}, &tracer{}
	connected.connected.Store(true)
	ready.connected.Store(true)
	ready.ready.Store(true)
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	bg := context.Background()
	tests := []struct {
		ctx  context.Context
		err  error
		tr   *tracer
		want string
	}{
		{expired, context.DeadlineExceeded, &tracer{}, "no connection within 3s (network down or host off)"},
		{expired, context.DeadlineExceeded, connected, "no TLS handshake within 3s (connected; the server does not complete it)"},
		{expired, context.DeadlineExceeded, ready, "no reply within 3s (connected; the server accepts and does not answer)"},
		{bg, &url.Error{Op: "Get", URL: "http://a", Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", errECONNREFUSED)}}, &tracer{}, "connection refused (no process listening)"},
		{bg, &url.Error{Op: "Get", URL: "http://a", Err: io.EOF}, ready, "connection closed without a reply"},
		{bg, &net.DNSError{Name: "reg.example.invalid", Err: "no such host", IsNotFound: true}, &tracer{}, "DNS lookup of reg.example.invalid failed"},
		{bg, &url.Error{Op: "Get", URL: "http://u:secret@a/?k=secret", Err: errors.New("something odd")}, &tracer{}, "transport error: something odd"},
		{bg, fmt.Errorf("wrapped: %w", errors.New("a|b\nc")), &tracer{}, "transport error: wrapped: a/b c"},
	}
	for _, tt := range tests {
		f := p.transportFailure(tt.ctx, tt.err, tt.tr)
		if f.reason != tt.want || f.interrupted {
			t.Errorf("%v: %q (interrupted %v), want %q", tt.err, f.reason, f.interrupted, tt.want)
		}
	}
	if f := p.transportFailure(canceled, context.Canceled, ready); !f.interrupted {
		t.Errorf("a canceled check: %+v, want interrupted", f)
	}
}

// TestPerfdata checks the performance data of a real run (real round trips)
// as a grapher reads it: a labelled time per endpoint in ms, between 0 and
// the timeout, U for the endpoint that did not answer, and the up count
// with the thresholds the check applies.
func TestPerfdata(t *testing.T) {
	c := startCluster(t, regsim.Config{Instances: 3})
	c.Instance(2).SetFault(regsim.Fault{Down: true})
	urls := c.URLs()
	r := runProbe(context.Background(), t, nil, 0, "--url", urls[0], "--url", urls[1], "--url", urls[2], "-t", "5", "--warning-down", "1", "--critical-down", "2")
	o := checkOutput(t, r)
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (WARNING)\n%s", r.code, r.out)
	}
	up, ok := o.Lookup("up")
	if !ok || up.Unknown || up.Value != 2 || up.Warn.String() != "3:" || up.Crit.String() != "2:" || *up.Min != 0 || *up.Max != 3 {
		t.Errorf("up = %+v", up)
	}
	for i, u := range urls {
		label := strings.TrimPrefix(u, "http://") + " time"
		p, ok := o.Lookup(label)
		switch {
		case !ok:
			t.Errorf("no %q in %+v", label, o.Perf)
		case i == 2 && !p.Unknown:
			t.Errorf("%s = %v for an instance that is down, want U", label, p.Value)
		case i < 2 && (p.Unknown || p.Value <= 0 || p.Value > 5000 || p.UOM != "ms"):
			t.Errorf("%s = %+v, want a time in ms in (0, 5000]", label, p)
		case p.Warn.String() != "500" || p.Crit.String() != "2000" || *p.Min != 0 || *p.Max != 5000:
			t.Errorf("%s thresholds %v %v min %v max %v", label, p.Warn, p.Crit, *p.Min, *p.Max)
		}
	}
	if _, ok := o.Lookup("time"); ok {
		t.Error("a check of several endpoints has a plain time value: which endpoint's?")
	}
}
