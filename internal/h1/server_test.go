package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// script answers the nth request (from 0) of a connection by writing raw
// bytes on c; false closes the connection.
type script func(c net.Conn, r *http.Request, nth int) bool

// rawServer is a loopback HTTP/1.1 server that answers with scripts,
// byte for byte, to put faults on the wire that net/http's server never
// makes.
type rawServer struct {
	URL      string
	ln       net.Listener
	wg       sync.WaitGroup
	accepted atomic.Int32
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func newRawServer(t testing.TB, s script) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawServer{URL: "http://" + ln.Addr().String(), ln: ln, conns: make(map[net.Conn]struct{})}
	rs.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rs.accepted.Add(1)
			rs.mu.Lock()
			rs.conns[c] = struct{}{}
			rs.mu.Unlock()
			rs.wg.Go(func() { rs.serve(c, s) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		rs.mu.Lock()
		for c := range rs.conns {
			c.Close()
		}
		rs.mu.Unlock()
		rs.wg.Wait()
	})
	return rs
}

func (rs *rawServer) serve(c net.Conn, s script) {
	defer func() {
		c.Close()
		rs.mu.Lock()
		delete(rs.conns, c)
		rs.mu.Unlock()
	}()
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if !s(c, r, n) {
			return
		}
	}
}

// answer writes a complete reply with a Content-Length.
func answer(c net.Conn, status, body string, headers ...string) bool {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\nContent-Length: %d\r\n", status, len(body))
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n" + body)
	_, err := io.WriteString(c, b.String())
	return err == nil
}

// outcome is what a caller of a transport sees of one request.
type outcome struct {
	Status  int
	Body    string
	Trailer string
	Class   string
}

func (o outcome) String() string {
	body := o.Body
	if len(body) > 40 {
		body = fmt.Sprintf("%.40s… (%d bytes)", body, len(body))
	}
	return fmt.Sprintf("{status %d, body %q, trailer %q, class %q}", o.Status, body, o.Trailer, o.Class)
}

// capBytes is the reply cap both transports are read with: the SDK reads
// one byte more than it (wire.MaxBodySize) to see an oversize reply.
const capBytes = DefaultMaxReplyBytes

// fetch sends one request through rt as the SDK does (an http.Client, the
// body read to the cap and one byte past it) and returns the outcome.
func fetch(ctx context.Context, rt http.RoundTripper, method, url string, body string, hdr http.Header) outcome {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return outcome{Class: "bad request: " + err.Error()}
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	hc := &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return outcome{Class: errClass(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, capBytes+1))
	o := outcome{Status: resp.StatusCode, Body: string(b)}
	switch {
	case err != nil:
		o.Class = errClass(err)
	case len(b) > capBytes:
		o.Class = "toolarge"
	}
	if o.Class == "toolarge" {
		// net/http delivers the reply and the SDK refuses it; the lean
		// transport refuses it itself: the same outcome for the SDK.
		o.Status, o.Body = 0, ""
	}
	if err == nil && len(b) <= capBytes {
		var ts []string
		for k, vs := range resp.Trailer {
			ts = append(ts, k+"="+strings.Join(vs, ","))
		}
		slices.Sort(ts)
		o.Trailer = strings.Join(ts, ";")
	}
	return o
}

// errClass is the class of a transport error as the load generator
// counts it (loadgen.classify), plus "toolarge" for a reply over the cap,
// which net/http delivers and the SDK refuses while the lean transport
// refuses it itself.
func errClass(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrReplyTooLarge):
		return "toolarge"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "reset"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// transports returns the two transports compared: net/http's as the load
// generator configured it, and the lean one.
func transports(t testing.TB) map[string]http.RoundTripper {
	t.Helper()
	std := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 2}
	lean := &Transport{}
	t.Cleanup(std.CloseIdleConnections)
	t.Cleanup(lean.CloseIdleConnections)
	return map[string]http.RoundTripper{"net/http": std, "lean": lean}
}

// timeoutCtx is a context with a deadline, canceled at the end of the test.
func timeoutCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
