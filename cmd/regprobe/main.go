// Command regprobe is a Nagios/Icinga plugin that checks a Registration
// Server published under one or more URLs.
//
// For each URL it asks GET /healthz and makes one getsettings round trip
// (after loginuser when --user is given). It prints one status line with
// performance data, then one line per endpoint, and exits 0 (OK), 1
// (WARNING), 2 (CRITICAL) or 3 (UNKNOWN, also for bad arguments), as the
// plugin guidelines ask:
//
//	regprobe --url https://reg1.example.com --url https://reg2.example.com \
//	    --warning-latency 500ms --critical-latency 2s
//	REGSERVER WARNING - 1/2 endpoints up | up=1;;;0;2 time_ms=12.4;500;2000;0
//	https://reg1.example.com: up, 12.4 ms
//	https://reg2.example.com: down: healthz: connection refused
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
	"github.com/spf13/pflag"
)

// Plugin exit codes.
const (
	exitOK       = 0
	exitWarning  = 1
	exitCritical = 2
	exitUnknown  = 3
)

var statusNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	urls          []string
	timeout       time.Duration
	warnLatency   time.Duration
	critLatency   time.Duration
	warnDown      int
	critDown      int
	user          string
	password      string
	salt          string
	insecure      bool
	caFile        string
	testTransport http.RoundTripper
}

// run parses args, probes every endpoint and prints the plugin output. It
// returns the plugin's exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := pflag.NewFlagSet("regprobe", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringArrayVar(&o.urls, "url", nil, "Registration Server base URL (repeatable)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "time limit for the whole check")
	fs.DurationVar(&o.warnLatency, "warning-latency", 500*time.Millisecond, "WARNING when the slowest up endpoint's round trip exceeds this (0 = off)")
	fs.DurationVar(&o.critLatency, "critical-latency", 2*time.Second, "CRITICAL when the slowest up endpoint's round trip exceeds this (0 = off)")
	fs.IntVar(&o.warnDown, "warning-down", 1, "WARNING when at least this many endpoints are down")
	fs.IntVar(&o.critDown, "critical-down", 0, "CRITICAL when at least this many endpoints are down (0 = all of them)")
	fs.StringVar(&o.user, "user", "", "log in as this user before getsettings (optional)")
	fs.StringVar(&o.password, "password", "", "password for --user (or REGPROBE_PASSWORD)")
	fs.StringVar(&o.salt, "salt", "", "API checksum salt, when the server requires one")
	fs.BoolVar(&o.insecure, "insecure", false, "skip TLS certificate verification (never in production)")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM file of CA certificates to trust instead of the system pool")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stdout, "REGSERVER UNKNOWN - %v\n", err)
		return exitUnknown
	}
	if o.password == "" {
		o.password = os.Getenv("REGPROBE_PASSWORD")
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(stdout, "REGSERVER UNKNOWN - %v\n", err)
		return exitUnknown
	}
	rt, err := o.transport()
	if err != nil {
		fmt.Fprintf(stdout, "REGSERVER UNKNOWN - %v\n", err)
		return exitUnknown
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	results := probeAll(ctx, &http.Client{Transport: rt}, &o)
	code, line := summarize(results, &o)
	fmt.Fprintln(stdout, line)
	for _, r := range results {
		fmt.Fprintln(stdout, r)
	}
	return code
}

func (o *options) validate() error {
	if len(o.urls) == 0 {
		return errors.New("no --url given")
	}
	seen := map[string]bool{}
	for _, raw := range o.urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--url %q is not an http(s) URL", redact(raw))
		}
		if seen[raw] {
			return fmt.Errorf("--url %q given twice", redact(raw))
		}
		seen[raw] = true
	}
	if o.timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	if o.warnLatency < 0 || o.critLatency < 0 {
		return errors.New("latency thresholds must not be negative")
	}
	if o.warnDown < 0 || o.critDown < 0 {
		return errors.New("down thresholds must not be negative")
	}
	if o.user != "" && o.password == "" {
		return errors.New("--user needs --password or REGPROBE_PASSWORD")
	}
	return nil
}

func (o *options) transport() (http.RoundTripper, error) {
	if o.testTransport != nil {
		return o.testTransport, nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.insecure}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificates in it", o.caFile)
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return t, nil
}

// result is the outcome of probing one endpoint.
type result struct {
	url     string
	up      bool
	latency time.Duration // the getsettings round trip (with login when configured)
	reason  string        // why it is down
}

func (r result) String() string {
	if r.up {
		return fmt.Sprintf("%s: up, %.1f ms", redact(r.url), ms(r.latency))
	}
	return fmt.Sprintf("%s: down: %s", redact(r.url), r.reason)
}

func probeAll(ctx context.Context, hc *http.Client, o *options) []result {
	results := make([]result, len(o.urls))
	var wg sync.WaitGroup
	for i, u := range o.urls {
		wg.Go(func() { results[i] = probe(ctx, hc, o, u) })
	}
	wg.Wait()
	return results
}

func probe(ctx context.Context, hc *http.Client, o *options, base string) result {
	r := result{url: base}
	base = strings.TrimSuffix(base, "/")
	if err := healthz(ctx, hc, base); err != nil {
		r.reason = "healthz: " + err.Error()
		return r
	}
	start := time.Now()
	session := ""
	if o.user != "" {
		reply, err := call(ctx, hc, o, base, &wire.Request{Command: wire.CmdLoginUser,
			Fields: []wire.Field{{Name: "username", Value: o.user}, {Name: "password", Value: o.password}}})
		if err != nil {
			r.reason = "loginuser: " + err.Error()
			return r
		}
		if reply.Exception != nil {
			r.reason = "loginuser: " + reply.Exception.Error()
			return r
		}
		session, _ = reply.Get("session")
	}
	reply, err := call(ctx, hc, o, base, &wire.Request{Command: wire.CmdGetSettings, Session: session})
	r.latency = time.Since(start)
	if err != nil {
		r.reason = "getsettings: " + err.Error()
		return r
	}
	if e := reply.Exception; e != nil {
		// Without credentials the server answers getsettings with "missing
		// field": that still proves the application and its database answer.
		if e.PrimaryCode == wire.CodeDatabase {
			r.reason = "database unavailable: " + e.Error()
			return r
		}
		if session != "" || e.PrimaryCode != wire.CodeBadRequest {
			r.reason = "getsettings: " + e.Error()
			return r
		}
	}
	r.up = true
	return r
}

func healthz(ctx context.Context, hc *http.Client, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+wire.HealthPath, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return transportReason(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

func call(ctx context.Context, hc *http.Client, o *options, base string, r *wire.Request) (*wire.Reply, error) {
	r.RequestTime = time.Now().Unix()
	body, err := wire.EncodeRequest(r)
	if err != nil {
		return nil, err
	}
	target := base + wire.APIPath
	if o.salt != "" {
		target += "?" + wire.ChecksumParam + "=" + wire.Checksum(body, o.salt)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", wire.ContentType)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportReason(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxBodySize+1))
	if err != nil {
		return nil, transportReason(err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	reply, err := wire.DecodeReply(data)
	if err != nil {
		return nil, fmt.Errorf("not a Registration Server reply: %w", err)
	}
	return reply, nil
}

// transportReason names the nature of a transport failure, as the failover
// test plan wants the alert to say.
func transportReason(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused (process not listening)")
	case errors.Is(err, syscall.ECONNRESET):
		return errors.New("connection reset")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return errors.New("network unreachable")
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errors.New("timeout (network down or host off)")
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return errors.New("DNS lookup failed")
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return errors.New("TLS certificate not trusted")
	}
	return errors.New("transport error")
}

// summarize turns the endpoint results into the exit code and the status
// line with performance data.
func summarize(results []result, o *options) (int, string) {
	total := len(results)
	up := 0
	var slowest time.Duration
	for _, r := range results {
		if r.up {
			up++
			slowest = max(slowest, r.latency)
		}
	}
	down := total - up
	critDown := o.critDown
	if critDown == 0 {
		critDown = total
	}
	code, why := exitOK, ""
	switch {
	case down >= critDown:
		code, why = exitCritical, fmt.Sprintf("%d/%d endpoints up", up, total)
	case o.critLatency > 0 && slowest > o.critLatency:
		code, why = exitCritical, fmt.Sprintf("slowest round trip %.0f ms > %.0f ms", ms(slowest), ms(o.critLatency))
	case o.warnDown > 0 && down >= o.warnDown:
		code, why = exitWarning, fmt.Sprintf("%d/%d endpoints up", up, total)
	case o.warnLatency > 0 && slowest > o.warnLatency:
		code, why = exitWarning, fmt.Sprintf("slowest round trip %.0f ms > %.0f ms", ms(slowest), ms(o.warnLatency))
	default:
		why = fmt.Sprintf("%d/%d endpoints up", up, total)
	}
	perf := fmt.Sprintf("up=%d;;;0;%d time_ms=%.1f;%s;%s;0", up, total, ms(slowest), threshold(o.warnLatency), threshold(o.critLatency))
	return code, fmt.Sprintf("REGSERVER %s - %s | %s", statusNames[code], why, perf)
}

func threshold(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f", ms(d))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// redact drops user information and the query from a URL for printing.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}
