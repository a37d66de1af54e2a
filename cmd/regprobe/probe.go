package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// outcome is what a probe found out about an endpoint.
type outcome int

const (
	up      outcome = iota // healthz 200 and the round trip answered
	down                   // it does not serve, for the reason given
	unknown                // the check cannot tell: a configuration problem, or interrupted
)

func (o outcome) String() string {
	return [...]string{"up", "down", "unknown"}[o]
}

// result is the outcome of probing one endpoint.
type result struct {
	endpoint
	outcome outcome
	latency time.Duration // the API round trip (loginuser + getsettings), when up
	reason  string        // why it is down or unknown
}

// prober probes endpoints with one HTTP client under one check's time
// limit.
type prober struct {
	hc      *http.Client
	cfg     *config
	timeout time.Duration // named in "no reply within …"
	elapsed func(start time.Time) time.Duration
}

func newTransport(c *config) (http.RoundTripper, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.insecure}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificates in it", c.caFile)
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return t, nil
}

// probeAll probes every endpoint at once and returns their results in order.
func (p *prober) probeAll(ctx context.Context, eps []endpoint) []result {
	results := make([]result, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() { results[i] = p.probe(ctx, ep) })
	}
	wg.Wait()
	return results
}

// failure is a request that got no usable answer; its text names the
// nature of the outage, as the failover test plan wants the alert to.
type failure struct {
	reason      string
	interrupted bool // the check was interrupted (not an outage)
}

func (f *failure) Error() string { return f.reason }

// probe checks one endpoint: GET /healthz, then the API round trip, which
// also runs when /healthz fails so that a database outage behind a live
// instance is named as such.
func (p *prober) probe(ctx context.Context, ep endpoint) result {
	r := result{endpoint: ep, outcome: down}
	base := strings.TrimSuffix(ep.url, "/")
	hzCode, hzReason, err := p.healthz(ctx, base)
	if err != nil {
		r.fail(err, "")
		return r
	}
	start := time.Now()
	exc, cmd, err := p.roundTrip(ctx, base)
	latency := p.elapsed(start)
	switch {
	case exc != nil && exc.PrimaryCode == wire.CodeDatabase:
		r.reason = "database unavailable (" + cmd + ": " + clean(exc.Error()) + ")"
		if hzReason != "" {
			r.reason += fmt.Sprintf(", /healthz %d", hzCode)
		}
	case hzReason != "":
		r.reason = "/healthz " + hzReason
	case err != nil:
		r.fail(err, cmd+": ")
	case exc != nil && configProblem(cmd, exc):
		r.outcome, r.reason = unknown, configReason(cmd, exc, p.cfg.user)
	case exc != nil:
		r.reason = cmd + ": " + clean(exc.Error())
	default:
		r.outcome, r.latency = up, latency
	}
	return r
}

// fail records a request that got no reply: down, or unknown when the check
// itself was interrupted.
func (r *result) fail(err error, prefix string) {
	var f *failure
	if errors.As(err, &f) && f.interrupted {
		r.outcome, r.reason = unknown, "check interrupted (SIGTERM or Ctrl-C) before a reply"
		return
	}
	r.outcome, r.reason = down, prefix+err.Error()
}

// configProblem reports whether exc says the check is set up wrong rather
// than the server being down: the monitoring account, or the salt.
func configProblem(cmd string, exc *wire.Exception) bool {
	switch exc.PrimaryCode {
	case wire.CodeUserUnknown, wire.CodeWrongPassword, wire.CodeNotActivated, wire.CodeDisabled, wire.CodeChecksum:
		return true
	case wire.CodeBadRequest:
		return cmd == wire.CmdLoginUser
	}
	return false
}

func configReason(cmd string, exc *wire.Exception, user string) string {
	e := clean(exc.Error())
	switch exc.PrimaryCode {
	case wire.CodeChecksum:
		return cmd + " refused the checksum (" + e + "): check --salt"
	case wire.CodeBadRequest:
		return cmd + " refused the request (" + e + "): check the options"
	default:
		return fmt.Sprintf("login as %s refused (%s): check --user and --password", clean(user), e)
	}
}

// tracer records how far a request got, to tell a host that never accepts
// the connection from a server that accepts it and never answers.
type tracer struct {
	connected atomic.Bool // TCP connected
	ready     atomic.Bool // a connection (TLS done, or reused) carries the request
	mu        sync.Mutex
	tlsErr    error // why the TLS handshake failed
}

func (t *tracer) tlsError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tlsErr
}

func (t *tracer) wrap(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				t.connected.Store(true)
			}
		},
		GotConn: func(httptrace.GotConnInfo) {
			t.connected.Store(true)
			t.ready.Store(true)
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			t.mu.Lock()
			t.tlsErr = err
			t.mu.Unlock()
		},
	})
}

// do sends req and returns the response or a *failure naming the nature of
// the transport failure.
func (p *prober) do(ctx context.Context, req *http.Request) (*http.Response, error) {
	var tr tracer
	resp, err := p.hc.Do(req.WithContext(tr.wrap(ctx)))
	if err != nil {
		return nil, p.transportFailure(ctx, err, &tr)
	}
	return resp, nil
}

func (p *prober) transportFailure(ctx context.Context, err error, tr *tracer) *failure {
	timedOut := errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		timedOut = true
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return &failure{reason: "interrupted", interrupted: true}
	case errors.As(err, &dnsErr) && !dnsErr.IsTimeout:
		return &failure{reason: "DNS lookup of " + clean(dnsErr.Name) + " failed"}
	case timedOut && tr.ready.Load():
		return &failure{reason: fmt.Sprintf("no reply within %v (connected; the server accepts and does not answer)", p.timeout)}
	case timedOut && tr.connected.Load():
		return &failure{reason: fmt.Sprintf("no TLS handshake within %v (connected; the server does not complete it)", p.timeout)}
	case timedOut:
		return &failure{reason: fmt.Sprintf("no connection within %v (network down or host off)", p.timeout)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &failure{reason: "connection refused (no process listening)"}
	case errors.Is(err, syscall.ECONNRESET):
		return &failure{reason: "connection reset by the server"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &failure{reason: "connection closed without a reply"}
	case errors.Is(err, syscall.EHOSTUNREACH):
		return &failure{reason: "host unreachable"}
	case errors.Is(err, syscall.ENETUNREACH):
		return &failure{reason: "network unreachable"}
	case errors.As(err, &certErr):
		return &failure{reason: "TLS certificate not trusted (" + clean(certErr.Err.Error()) + ")"}
	case errors.As(err, &recErr), errors.As(tr.tlsError(), &recErr):
		return &failure{reason: "not TLS: the port speaks plain HTTP (use http:// or drop -S)"}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL may carry secrets; the endpoint is named anyway
	}
	return &failure{reason: "transport error: " + clean(err.Error())}
}

// healthz asks GET /healthz. It returns the status code, and for a code
// other than 200 the reason (the status and what came with it); a *failure
// when nothing came back.
func (p *prober) healthz(ctx context.Context, base string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+wire.HealthPath, nil)
	if err != nil {
		return 0, "", &failure{reason: clean(err.Error())}
	}
	resp, err := p.do(ctx, req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, "", p.transportFailure(ctx, err, &tracer{})
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", nil
	}
	return resp.StatusCode, httpReason(resp, body), nil
}

// roundTrip logs in when the check has a user, then asks getsettings. It
// returns the exception of the first command that answered with one, with
// that command's name, or a *failure for a request that got no reply.
func (p *prober) roundTrip(ctx context.Context, base string) (*wire.Exception, string, error) {
	session := ""
	if p.cfg.user != "" {
		reply, err := p.call(ctx, base, &wire.Request{Command: wire.CmdLoginUser,
			Fields: []wire.Field{{Name: "username", Value: p.cfg.user}, {Name: "password", Value: p.cfg.password}}})
		if err != nil {
			return nil, wire.CmdLoginUser, err
		}
		if reply.Exception != nil {
			return reply.Exception, wire.CmdLoginUser, nil
		}
		session, _ = reply.Get("session")
	}
	reply, err := p.call(ctx, base, &wire.Request{Command: wire.CmdGetSettings, Session: session})
	if err != nil {
		return nil, wire.CmdGetSettings, err
	}
	if e := reply.Exception; e != nil {
		// Without a session the server answers "missing field": that still
		// proves the application and its database answer.
		if session == "" && e.PrimaryCode == wire.CodeBadRequest {
			return nil, wire.CmdGetSettings, nil
		}
		return e, wire.CmdGetSettings, nil
	}
	return nil, wire.CmdGetSettings, nil
}

func (p *prober) call(ctx context.Context, base string, r *wire.Request) (*wire.Reply, error) {
	r.RequestTime = time.Now().Unix()
	body, err := wire.EncodeRequest(r)
	if err != nil {
		return nil, &failure{reason: clean(err.Error())}
	}
	target := base + wire.APIPath
	if p.cfg.salt != "" {
		target += "?" + wire.ChecksumParam + "=" + wire.Checksum(body, p.cfg.salt)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, &failure{reason: clean(err.Error())}
	}
	req.Header.Set("Content-Type", wire.ContentType)
	resp, err := p.do(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxBodySize+1))
	if err != nil {
		return nil, p.transportFailure(ctx, err, &tracer{})
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &failure{reason: httpReason(resp, data)}
	}
	reply, err := wire.DecodeReply(data)
	if err != nil {
		what := "not a Registration Server reply"
		if isHTML(resp, data) {
			what += " (an HTML page: a proxy, portal or web server answered)"
		}
		return nil, &failure{reason: what}
	}
	return reply, nil
}

// httpReason describes a reply other than 200: its status and, for a short
// text, the text (regsim's /healthz says "database unavailable"), or that it
// is an HTML page, which is a proxy's or web server's, never the server's.
func httpReason(resp *http.Response, body []byte) string {
	s := resp.Status // "503 Service Unavailable"
	if !strings.HasPrefix(s, fmt.Sprint(resp.StatusCode)) {
		s = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	s = "HTTP " + clean(strings.TrimSpace(s))
	switch {
	case isHTML(resp, body):
		s += " (an HTML page: a proxy or web server answered, not the Registration Server)"
	default:
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n"); mt == "text/plain" && line != "" && len(line) <= 80 {
			s += ": " + fmt.Sprintf("%q", clean(line))
		}
	}
	return s
}

func isHTML(resp *http.Response, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "text/html" || mt == "application/xhtml+xml" {
		return true
	}
	head := strings.ToLower(strings.TrimSpace(string(body[:min(len(body), 512)])))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html")
}

// clean keeps text from the network or the command line fit for one line of
// plugin output: printable, no "|" (which starts performance data), at most
// 200 bytes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '|':
			return '/'
		case r < ' ', r == 0x7f:
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
