package regsim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// memTransport is the in-memory http.RoundTripper of a Cluster: it hands each
// request to the instance named by the URL's host, in the calling goroutine,
// and emulates connection-level faults with the errors a socket would give.
type memTransport struct{ c *Cluster }

var _ http.RoundTripper = (*memTransport)(nil)

// errBodyClosed is returned by a read of a closed in-memory response body.
var errBodyClosed = errors.New("regsim: read on closed response body")

func refusedErr(host string) error {
	return &net.OpError{Op: "dial", Net: "tcp", Source: nil, Addr: memAddr(host),
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

func resetErr(host string) error {
	return &net.OpError{Op: "read", Net: "tcp", Addr: memAddr(host),
		Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

// memAddr is the net.Addr of an in-memory instance.
type memAddr string

func (a memAddr) Network() string { return "regsim" }
func (a memAddr) String() string  { return string(a) }

// RoundTrip implements http.RoundTripper. Down (and a closed cluster) give
// a dial error wrapping syscall.ECONNREFUSED; a request dropped while it
// waited (Down set during Hang, say) a read error wrapping
// syscall.ECONNRESET; Reset a response whose body fails with that error
// half way; a request whose context ends while it hangs or waits returns the
// context's error. An unknown host is a *net.DNSError.
func (t *memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if req.URL == nil {
		return nil, errors.New("regsim: request without URL")
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("regsim: unsupported protocol scheme %q", req.URL.Scheme)
	}
	host := req.URL.Host
	in := t.c.hosts[host]
	if in == nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp",
			Err: &net.DNSError{Err: "no such host", Name: req.URL.Hostname(), IsNotFound: true}}
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.c.isClosed() || in.Fault().Down {
		return nil, refusedErr(host)
	}
	in.open.Add(1)
	t.c.ctr.connOpened()
	defer func() {
		in.open.Add(-1)
		t.c.ctr.connClosed()
	}()

	var sk memSink
	in.serve(req, &sk)
	if sk.dropped {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, resetErr(host)
	}
	body := &memBody{data: sk.body}
	if sk.cut {
		body.err = resetErr(host)
	}
	if req.Method == http.MethodHead {
		body.data, body.err = nil, nil
	}
	return &http.Response{
		Status:        strconv.Itoa(sk.status) + " " + http.StatusText(sk.status),
		StatusCode:    sk.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        sk.header,
		Body:          body,
		ContentLength: sk.length,
		Request:       req,
	}, nil
}

// memSink collects one answer for memTransport.
type memSink struct {
	status  int
	header  http.Header
	length  int64
	body    []byte
	cut     bool // reset half way through the body
	dropped bool
}

func (s *memSink) set(in *Instance, r *response, body []byte) {
	s.status = r.status
	s.length = int64(len(r.body))
	// Fresh slices: the caller owns the header and may change it.
	s.header = http.Header{
		"Content-Type":   {r.ctype[0]},
		"Content-Length": {strconv.Itoa(len(r.body))},
		InstanceHeader:   {in.hdrID[0]},
	}
	if r.retryAfter != "" {
		s.header["Retry-After"] = []string{r.retryAfter}
	}
	if r.allow != "" {
		s.header["Allow"] = []string{r.allow}
	}
	s.body = bytes.Clone(body) // r.body goes back to a pool
}

func (s *memSink) reply(in *Instance, r *response) { s.set(in, r, r.body) }

func (s *memSink) reset(in *Instance, r *response) {
	s.set(in, r, r.body[:len(r.body)/2])
	s.cut = true
}

func (s *memSink) drop() { s.dropped = true }

// memBody is an in-memory response body. After its data it returns err, or
// io.EOF when err is nil. Close is idempotent; reads after it fail.
type memBody struct {
	mu     sync.Mutex
	data   []byte
	off    int
	err    error
	closed bool
}

func (b *memBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBodyClosed
	}
	if b.off >= len(b.data) {
		if b.err != nil {
			return 0, b.err
		}
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += n
	return n, nil
}

func (b *memBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}
