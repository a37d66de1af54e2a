package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func mustGet(t *testing.T, tr *Transport, ctx context.Context, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return string(b)
}

// TestRequestOnTheWire: what the server reads is the request the caller
// built: method, target, Host, headers, a body with its Content-Length
// (known or not).
func TestRequestOnTheWire(t *testing.T) {
	got := make(chan *http.Request, 4)
	bodies := make(chan string, 4)
	srv := newRawServer(t, func(c net.Conn, r *http.Request, _ int) bool {
		got <- r
		return answer(c, "200 OK", "")
	})
	// The server's ReadRequest consumes the body before the script; read
	// it again from a second server that keeps it.
	srvBody := newRawServerRaw(t, bodies)
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	ctx := timeoutCtx(t, 5*time.Second)

	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/x%20y?checksum=abc&b=1", strings.NewReader("<teamdrive/>"))
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.Host = "front.example"
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-got
	if r.Method != "POST" || r.RequestURI != "/api/x%20y?checksum=abc&b=1" || r.Host != "front.example" ||
		r.ContentLength != 12 || r.Header.Get("Content-Type") != "text/xml" ||
		strings.Join(r.Header["X-Multi"], ",") != "a,b" || r.UserAgent() != "Go-http-client/1.1" {
		t.Errorf("server read %s %s Host %q length %d header %v", r.Method, r.RequestURI, r.Host, r.ContentLength, r.Header)
	}

	// A body of unknown length is read and sent with its length.
	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, srvBody+"/", io.NopCloser(strings.NewReader("unknown length")))
	if req.ContentLength != 0 {
		t.Fatalf("ContentLength %d, want 0 (unknown)", req.ContentLength)
	}
	resp, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if b := <-bodies; b != "unknown length" {
		t.Errorf("server read body %q", b)
	}
	// A POST without a body says Content-Length: 0, as net/http does.
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/", nil)
	resp, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := <-got; r.ContentLength != 0 || r.Header.Get("Content-Length") != "" && r.Header.Get("Content-Length") != "0" {
		t.Errorf("POST without a body: length %d", r.ContentLength)
	}
}

// newRawServerRaw is a server that sends each request's body to bodies.
func newRawServerRaw(t *testing.T, bodies chan<- string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBadRequests: requests the transport refuses, before any dial.
func TestBadRequests(t *testing.T) {
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	ctx := context.Background()
	mk := func(method, url string) *http.Request {
		r, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	badHeader := mk("GET", "http://127.0.0.1:1/")
	badHeader.Header.Set("X-Split", "a\r\nInjected: yes")
	badName := mk("GET", "http://127.0.0.1:1/")
	badName.Header["Bad Name"] = []string{"v"}
	short := mk("POST", "http://127.0.0.1:1/")
	short.Body, short.ContentLength = io.NopCloser(strings.NewReader("abc")), 10
	for name, r := range map[string]*http.Request{
		"ftp scheme":      mk("GET", "ftp://127.0.0.1/"),
		"no host":         {Method: "GET", URL: mk("GET", "http:///x").URL, Header: http.Header{}},
		"header value":    badHeader,
		"header name":     badName,
		"short body":      short,
		"no URL":          {Method: "GET", Header: http.Header{}},
		"method with tab": {Method: "G\tET", URL: mk("GET", "http://127.0.0.1:1/").URL, Header: http.Header{}},
	} {
		r = r.WithContext(ctx)
		if _, err := tr.RoundTrip(r); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", name, err)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tr.RoundTrip(mk("GET", "http://127.0.0.1:1/").WithContext(canceled)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v, want context.Canceled", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := tr.RoundTrip(mk("GET", "http://"+addr+"/")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed port: %v, want ECONNREFUSED", err)
	}
}

// TestMaxConnsPerHost: concurrent requests share at most MaxConnsPerHost
// connections; a request waiting for one gives up with its context, and
// the slot accounting survives it.
func TestMaxConnsPerHost(t *testing.T) {
	srv := newRawServer(t, ok)
	tr := &Transport{MaxConnsPerHost: 2}
	defer tr.CloseIdleConnections()
	ctx := timeoutCtx(t, 10*time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if b := mustGet(t, tr, ctx, srv.URL); b != "hello" {
					t.Errorf("body %q", b)
				}
			}
		})
	}
	wg.Wait()
	if n := srv.accepted.Load(); n > 2 {
		t.Errorf("%d connections, want at most 2", n)
	}

	// One connection, held by a reply that does not end.
	release := make(chan struct{})
	hold := newRawServer(t, func(c net.Conn, _ *http.Request, nth int) bool {
		if nth == 0 {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
			<-release
			_, err := io.WriteString(c, "cd")
			return err == nil
		}
		return answer(c, "200 OK", "next")
	})
	one := &Transport{MaxConnsPerHost: 1}
	defer one.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, "GET", hold.URL, nil)
	first, err := one.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	req2, _ := http.NewRequestWithContext(short, "GET", hold.URL, nil)
	if _, err := one.RoundTrip(req2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for the only connection: %v, want DeadlineExceeded", err)
	}
	close(release)
	if b, err := io.ReadAll(first.Body); err != nil || string(b) != "abcd" {
		t.Errorf("first body %q, %v", b, err)
	}
	if b := mustGet(t, one, ctx, hold.URL); b != "next" {
		t.Errorf("after the wait: %q", b)
	}
	if n := hold.accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestCancelDuringBody: canceling the context interrupts a body read that
// is blocked on the network, with the context's error.
func TestCancelDuringBody(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, _ *http.Request, _ int) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		_, _ = io.Copy(io.Discard, c) // until the client leaves
		return false
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	go cancel()
	if _, err := resp.Body.Read(buf); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
	if _, err := resp.Body.Read(buf); !errors.Is(err, context.Canceled) {
		t.Errorf("second read: %v, want the same error", err)
	}
	resp.Body.Close()
	if _, err := resp.Body.Read(buf); err == nil {
		t.Error("read after Close succeeded")
	}
}

// TestIdleConnection: an idle connection holds no buffer and no goroutine
// of the transport; the server's close of it while idle is seen before a
// POST is written on it (the request is not lost); an idle connection past
// IdleConnTimeout is not reused; CloseIdleConnections closes it.
func TestIdleConnection(t *testing.T) {
	closed := make(chan struct{}, 8)
	srv := newRawServer(t, func(c net.Conn, r *http.Request, _ int) bool {
		answer(c, "200 OK", "hello")
		if r.URL.Path == "/close" {
			c.Close()
			closed <- struct{}{}
			return false
		}
		return true
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	ctx := timeoutCtx(t, 5*time.Second)
	mustGet(t, tr, ctx, srv.URL+"/")
	tr.mu.Lock()
	idle := tr.idle
	var held bool
	for _, hp := range tr.hosts {
		for _, c := range hp.idle {
			held = held || c.br != nil
		}
	}
	tr.mu.Unlock()
	if idle != 1 || held {
		t.Errorf("idle %d, buffer held %v; want 1 idle connection without a buffer", idle, held)
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{"h1.(*conn)", "h1.(*Transport)", "h1.(*body)"} {
		if strings.Contains(stacks, fn) {
			t.Errorf("a goroutine runs %s while the connection is idle:\n%s", fn, stacks)
		}
	}

	// The server closes the connection after this reply, while idle.
	mustGet(t, tr, ctx, srv.URL+"/close")
	<-closed
	before := srv.accepted.Load()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/", strings.NewReader("not replayable"))
	req.GetBody = nil
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("POST after the server closed the idle connection: %v", err)
	}
	resp.Body.Close()
	if n := srv.accepted.Load(); n != before+1 {
		t.Errorf("%d new connections, want 1", n-before)
	}

	expiring := &Transport{IdleConnTimeout: time.Nanosecond}
	defer expiring.CloseIdleConnections()
	before = srv.accepted.Load()
	for range 3 {
		mustGet(t, expiring, ctx, srv.URL+"/")
	}
	if n := srv.accepted.Load() - before; n != 3 {
		t.Errorf("IdleConnTimeout 1 ns: %d connections for 3 requests, want 3", n)
	}

	before = srv.accepted.Load()
	tr.CloseIdleConnections()
	mustGet(t, tr, ctx, srv.URL+"/")
	if n := srv.accepted.Load() - before; n != 1 {
		t.Errorf("after CloseIdleConnections: %d new connections, want 1", n)
	}
}

// TestMaxIdleConns: over all hosts, the oldest idle connection goes.
func TestMaxIdleConns(t *testing.T) {
	a, b := newRawServer(t, ok), newRawServer(t, ok)
	tr := &Transport{MaxIdleConns: 1, Buffers: &Buffers{ReadSize: 512}}
	defer tr.CloseIdleConnections()
	ctx := timeoutCtx(t, 5*time.Second)
	mustGet(t, tr, ctx, a.URL)
	mustGet(t, tr, ctx, b.URL)
	mustGet(t, tr, ctx, b.URL)
	mustGet(t, tr, ctx, a.URL)
	if na, nb := a.accepted.Load(), b.accepted.Load(); na != 2 || nb != 1 {
		t.Errorf("connections: a %d, b %d; want 2 and 1", na, nb)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.idle != 1 {
		t.Errorf("%d idle, want 1", tr.idle)
	}
}

// TestTLS: https with the certificate verified against the configured
// roots, and refused without them.
func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tr := &Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	ctx := timeoutCtx(t, 5*time.Second)
	for range 2 {
		if b := mustGet(t, tr, ctx, srv.URL); b != "HTTP/1.1" {
			t.Errorf("body %q", b)
		}
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TLS == nil || !resp.TLS.HandshakeComplete {
		t.Error("Response.TLS not set")
	}
	resp.Body.Close()
	untrusted := &Transport{}
	defer untrusted.CloseIdleConnections()
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	var uerr *tls.CertificateVerificationError
	if _, err := untrusted.RoundTrip(req); !errors.As(err, &uerr) {
		t.Errorf("self-signed certificate with the system's roots: %v, want a verification error", err)
	}
}

// TestReadResponseCases: the parser alone, on replies that the loopback
// tests do not make.
func TestReadResponseCases(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		status   int
		body     string
		wantErr  error
	}{
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, "ok", nil},
		{"no reason", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", 404, "", nil},
		{"chunk extension and uppercase hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA;x=y\r\n0123456789\r\n0\r\n\r\n", 200, "0123456789", nil},
		{"HTTP/2 status line", "HTTP/2 200\r\n\r\n", 0, "", ErrMalformedReply},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", 0, "", ErrMalformedReply},
		{"folded header", "HTTP/1.1 200 OK\r\n continued\r\n\r\n", 0, "", ErrMalformedReply},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, "", ErrMalformedReply},
		{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 0, "", ErrMalformedReply},
		{"chunk missing CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX0\r\n\r\n", 200, "ok", ErrMalformedReply},
		{"header too long", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxHeaderBytes) + "\r\n\r\n", 0, "", ErrMalformedReply},
		{"HTTP/1.0 chunked is not", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, "2\r\nok\r\n0\r\n\r\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := readResponse(bufio.NewReaderSize(strings.NewReader(tc.in), 64), "GET", capBytes)
			if err == nil {
				if rep.resp.StatusCode != tc.status {
					t.Errorf("status %d, want %d", rep.resp.StatusCode, tc.status)
				}
				var b []byte
				b, err = io.ReadAll(rep.resp.Body)
				if err == nil && string(b) != tc.body {
					t.Errorf("body %q, want %q", b, tc.body)
				}
			}
			if !errors.Is(err, tc.wantErr) && (tc.wantErr != nil || err != nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}
