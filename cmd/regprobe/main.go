// Command regprobe is a Nagios/Icinga plugin that checks a Registration
// Server, following the Monitoring Plugins Development Guidelines: options
// -H, -p, -S, -w, -c (ranges, in ms), -t, -h and -V; one status line with
// performance data, then a line per endpoint; exit 0 OK, 1 WARNING,
// 2 CRITICAL, 3 UNKNOWN (bad options, a refused login or checksum: the check
// is set up wrong and cannot tell).
//
// For each endpoint it asks GET /healthz and makes one getsettings round trip
// (after loginuser when --user is given). An instance check:
//
//	regprobe -H regserv01.example.com -S --user monitor
//	REGSERVER OK - https://regserv01.example.com:443 up, round trip 12.4 ms | time=12.4ms;500;2000;0;10000 up=1;1:;1:;0;1
//	https://regserv01.example.com:443: up, 12.4 ms
//
// The service behind a load balancer, WARNING when it answers but an
// instance behind it does not (the instance's own check is CRITICAL):
//
//	regprobe --url https://reg.example.com --instance https://regserv01.example.com \
//	    --instance https://regserv02.example.com
//
// See --help for every option and examples/monitoring for Icinga 2 and Nagios
// command definitions.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/regfleet/regfleet/internal/nagios"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Getenv)
	stop()
	os.Exit(code)
}

// run parses args, probes the endpoints and prints the plugin output on
// stdout. It returns the exit code. --help and --version print on stdout
// and return 0 with no status line; bad options print one UNKNOWN line and
// return 3. getenv reads REGPROBE_PASSWORD.
func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) int {
	return runWith(ctx, args, stdout, getenv, hooks{})
}

// hooks replace parts of the check in tests; the zero value is the real
// thing.
type hooks struct {
	transport http.RoundTripper                   // instead of one built from the options
	elapsed   func(start time.Time) time.Duration // instead of time.Since
}

// runWith is run with hooks.
func runWith(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string, h hooks) int {
	c, act, err := parseArgs(args, getenv)
	switch {
	case act == actHelp:
		fmt.Fprint(stdout, help(newFlags(&rawOptions{})))
		return 0
	case act == actVersion:
		fmt.Fprintln(stdout, versionLine())
		return 0
	case err != nil:
		fmt.Fprint(stdout, unknownReport(fmt.Errorf("%w (see regprobe --help)", err)))
		return int(nagios.Unknown)
	}
	rt := h.transport
	if rt == nil {
		if rt, err = newTransport(c); err != nil {
			fmt.Fprint(stdout, unknownReport(err))
			return int(nagios.Unknown)
		}
	}
	if h.elapsed == nil {
		h.elapsed = time.Since
	}
	rep := check(ctx, c, &http.Client{Transport: rt}, h.elapsed)
	fmt.Fprint(stdout, rep)
	return int(rep.status)
}

// check probes every endpoint (and the service) within the time limit.
func check(ctx context.Context, c *config, hc *http.Client, elapsed func(time.Time) time.Duration) report {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	defer hc.CloseIdleConnections()
	p := &prober{hc: hc, cfg: c, timeout: c.timeout, elapsed: elapsed}
	eps := c.endpoints
	if c.service != nil {
		eps = append([]endpoint{*c.service}, eps...)
	}
	results := p.probeAll(ctx, eps)
	if c.service != nil {
		return summarize(c, &results[0], results[1:])
	}
	return summarize(c, nil, results)
}

// versionLine returns what --version prints: "regprobe VERSION", from the
// binary's build information.
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "regprobe (devel)"
	}
	parts := []string{bi.Main.Version}
	if parts[0] == "" {
		parts[0] = "(devel)"
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			parts = append(parts, s.Value[:min(len(s.Value), 12)])
		case s.Key == "vcs.modified" && s.Value == "true":
			parts = append(parts, "modified")
		}
	}
	return "regprobe " + strings.Join(parts, " ")
}
