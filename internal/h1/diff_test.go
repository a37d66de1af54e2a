package h1

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// step is one request of a differential case.
type step struct {
	method  string // "": GET
	body    string
	header  http.Header
	timeout time.Duration // 0: 5 s
	want    string        // the class both must see: "" for a reply
}

// diffCase is a server's behaviour and the requests sent to it, one after
// the other, through each transport against a server of its own.
type diffCase struct {
	name  string
	serve script
	steps []step
	// conns, when set, is how many connections the server must have
	// accepted for the steps, with either transport.
	conns int32
}

func get(want string) step { return step{want: want} }

func drip(c net.Conn, s string, every time.Duration) bool {
	for i := range len(s) {
		if _, err := io.WriteString(c, s[i:i+1]); err != nil {
			return false
		}
		time.Sleep(every) // the fault itself: a server that sends a byte at a time
	}
	return true
}

func ok(c net.Conn, _ *http.Request, _ int) bool { return answer(c, "200 OK", "hello") }

var big = strings.Repeat("x", capBytes)

func diffCases() []diffCase {
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
		"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: abc\r\nX-Late: 1\r\n\r\n"
	return []diffCase{
		{name: "keep-alive", serve: ok, steps: []step{get(""), get(""), {method: "POST", body: "ping"}}, conns: 1},
		{name: "slow drip", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return drip(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", time.Millisecond)
		}, steps: []step{get(""), get("")}, conns: 1},
		{name: "slow drip past the deadline", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return drip(c, "HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n"+strings.Repeat("y", 200), 20*time.Millisecond)
		}, steps: []step{{timeout: 150 * time.Millisecond, want: "timeout"}}},
		{name: "early close before the reply", serve: func(net.Conn, *http.Request, int) bool { return false },
			steps: []step{get("reset"), {method: "POST", body: "x", want: "reset"}}},
		{name: "early close after a header line", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n")
			return false
		}, steps: []step{get("reset")}},
		{name: "early close in a header line", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
			return false // a line without a colon, as textproto reads it
		}, steps: []step{get("other")}},
		{name: "early close in the body", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
			return false
		}, steps: []step{get("reset")}},
		{name: "early close in a chunk", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc")
			return false
		}, steps: []step{get("reset")}},
		{name: "chunked with trailers", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, err := io.WriteString(c, chunked)
			return err == nil
		}, steps: []step{get(""), get("")}, conns: 1},
		{name: "bad chunk size", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
			return false
		}, steps: []step{get("other")}},
		{name: "oversize Content-Length", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return answer(c, "200 OK", big+"!")
		}, steps: []step{get("toolarge")}},
		{name: "oversize chunked", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"); err != nil {
				return false
			}
			chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, big[:64<<10])
			for range 17 {
				if _, err := io.WriteString(c, chunk); err != nil {
					return false
				}
			}
			_, _ = io.WriteString(c, "0\r\n\r\n")
			return false
		}, steps: []step{get("toolarge")}},
		{name: "oversize until close", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n"+big+"!")
			return false
		}, steps: []step{get("toolarge")}},
		{name: "exactly the cap", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return answer(c, "200 OK", big)
		}, steps: []step{get(""), get("")}, conns: 1},
		{name: "garbage status line", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n\r\n")
			return false
		}, steps: []step{get("other")}},
		{name: "bad status code", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n")
			return false
		}, steps: []step{get("other")}},
		{name: "bad header line", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n")
			return false
		}, steps: []step{get("other")}},
		{name: "two Content-Lengths", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
			return false
		}, steps: []step{get("other")}},
		{name: "unsupported transfer encoding", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello")
			return false
		}, steps: []step{get("other")}},
		{name: "Connection: close mid-stream", serve: func(c net.Conn, _ *http.Request, nth int) bool {
			if nth == 1 {
				answer(c, "200 OK", "last", "Connection: close")
				return false
			}
			return answer(c, "200 OK", "hello")
		}, steps: []step{get(""), get(""), get(""), get("")}, conns: 2},
		// The header alone asks the server to close; as net/http, the
		// client keeps the connection until the server does (Request.Close
		// would close it).
		{name: "request asks to close", serve: ok,
			steps: []step{{header: http.Header{"Connection": {"close"}}}, get("")}, conns: 1},
		{name: "server honours the request's close", serve: func(c net.Conn, r *http.Request, _ int) bool {
			answer(c, "200 OK", "bye")
			return !r.Close
		}, steps: []step{{header: http.Header{"Connection": {"close"}}}, get("")}, conns: 2},
		{name: "server closes after each reply", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			answer(c, "200 OK", "once")
			return false
		}, steps: []step{get(""), get(""), {method: "POST", body: "x", header: http.Header{"Idempotency-Key": {"k1"}}}}, conns: 3},
		{name: "reused connection dropped with the request", serve: func(c net.Conn, _ *http.Request, nth int) bool {
			if nth == 0 {
				return answer(c, "200 OK", "first")
			}
			return false // the request was read: close without a reply
		}, steps: []step{
			get(""), // conn 1
			get(""), // dropped on conn 1, retried on conn 2
			get(""), // dropped on conn 2, retried on conn 3
			{method: "POST", body: "x", header: http.Header{"X-Idempotency-Key": {"k2"}}}, // retried on conn 4
			{method: "POST", body: "x", want: "reset"},                                    // not replayed: fails on conn 4
			get(""), // conn 5
		}, conns: 5},
		{name: "never answers", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.Copy(io.Discard, c) // until the client gives up
			return false
		}, steps: []step{{timeout: 100 * time.Millisecond, want: "timeout"}}},
		{name: "HTTP/1.0 until close", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold school")
			return false
		}, steps: []step{get(""), get("")}, conns: 2},
		{name: "HTTP/1.0 keep-alive", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, err := io.WriteString(c, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")
			return err == nil
		}, steps: []step{get(""), get("")}, conns: 1},
		{name: "100 Continue first", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, err := io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew")
			return err == nil
		}, steps: []step{get(""), get("")}, conns: 1},
		{name: "no body statuses", serve: func(c net.Conn, r *http.Request, nth int) bool {
			var err error
			switch {
			case r.Method == http.MethodHead:
				_, err = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
			case nth%2 == 0:
				_, err = io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
			default:
				_, err = io.WriteString(c, "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n")
			}
			return err == nil
		}, steps: []step{get(""), get(""), {method: "HEAD"}, get("")}, conns: 1},
		{name: "long header line", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return answer(c, "503 Service Unavailable", "busy", "X-Long: "+strings.Repeat("a", 10000), "Retry-After: 3")
		}, steps: []step{get(""), get("")}, conns: 1},
	}
}

// TestDifferential sends the same requests through net/http and the lean
// transport, each against its own server with the same fault, and wants
// the same outcome for each: status, body, trailer, error class, and the
// same number of connections where the case says.
func TestDifferential(t *testing.T) {
	for _, tc := range diffCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string][]outcome{}
			conns := map[string]int32{}
			for name, rt := range transports(t) {
				srv := newRawServer(t, tc.serve)
				for i, s := range tc.steps {
					d := s.timeout
					if d == 0 {
						d = 5 * time.Second
					}
					ctx, cancel := context.WithTimeout(context.Background(), d)
					o := fetch(ctx, rt, s.method, srv.URL+"/api?x=1", s.body, s.header)
					cancel()
					if o.Class != s.want {
						t.Errorf("%s: step %d: %v, want class %q", name, i, o, s.want)
					}
					got[name] = append(got[name], o)
				}
				conns[name] = srv.accepted.Load()
				rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
			}
			std, lean := got["net/http"], got["lean"]
			for i := range std {
				if std[i] != lean[i] {
					t.Errorf("step %d: net/http %v, lean %v", i, std[i], lean[i])
				}
			}
			if tc.conns != 0 {
				for name, n := range conns {
					if n != tc.conns {
						t.Errorf("%s: the server accepted %d connections, want %d", name, n, tc.conns)
					}
				}
			}
		})
	}
}
