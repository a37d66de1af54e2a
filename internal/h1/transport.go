package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of Transport.
const (
	// DefaultMaxReplyBytes is the largest reply body a Transport accepts:
	// the protocol's 1 MiB (wire.MaxBodySize).
	DefaultMaxReplyBytes = 1 << 20
	// DefaultMaxIdleConnsPerHost is net/http's default.
	DefaultMaxIdleConnsPerHost = 2
	// DefaultIdleConnTimeout is net/http's DefaultTransport's.
	DefaultIdleConnTimeout = 90 * time.Second
	// DefaultReadBufferSize is the size of the pooled reply buffers.
	DefaultReadBufferSize = 4 << 10
	// DefaultDialTimeout bounds a dial when the context has no earlier
	// deadline.
	DefaultDialTimeout = 30 * time.Second
)

// maxHeaderBytes bounds a reply's status line and header (and a chunked
// body's trailer).
const maxHeaderBytes = 64 << 10

// Errors of Transport. Match them with errors.Is.
var (
	// ErrReplyTooLarge is wrapped by the error of a reply whose body is
	// over Transport.MaxReplyBytes; the message names the cap.
	ErrReplyTooLarge = errors.New("h1: reply body over the cap")
	// ErrMalformedReply is wrapped by the error of a reply that is not
	// HTTP/1.x: a garbage status line, a bad header, a bad chunk.
	ErrMalformedReply = errors.New("h1: malformed HTTP response")
	// ErrBadRequest is wrapped by the error of a request the transport
	// cannot send: no URL or host, a scheme other than http and https, an
	// invalid header, a body shorter than its ContentLength.
	ErrBadRequest = errors.New("h1: bad request")
	// ErrBodyClosed is returned by a read of a closed reply body.
	ErrBodyClosed = errors.New("h1: read on closed response body")
)

// Transport is an HTTP/1.1 http.RoundTripper that does its I/O on the
// caller's goroutine and keeps idle connections without goroutines or
// buffers (see the package documentation).
//
// The zero value is ready to use: plain connections dialled with a
// net.Dialer, TLS with the system's roots, two idle connections per host
// kept for 90 s at most, no limit on connections per host, replies up to
// 1 MiB. A Transport must not be copied after first use. It is safe for
// concurrent use by multiple goroutines; a reply body is read by one
// goroutine at a time.
type Transport struct {
	// DialContext dials the TCP connections; nil: a net.Dialer's, bounded
	// by DefaultDialTimeout.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSClientConfig configures https connections; nil: the defaults of
	// crypto/tls (the system's roots, certificates verified). Its
	// ServerName defaults to the URL's host; NextProtos is set to
	// http/1.1 only.
	TLSClientConfig *tls.Config
	// MaxConnsPerHost bounds the connections to one host (dialling, in
	// use and idle); a request over it waits for one. 0: no limit.
	MaxConnsPerHost int
	// MaxIdleConnsPerHost bounds the idle connections kept per host.
	// 0: DefaultMaxIdleConnsPerHost; negative: none are kept.
	MaxIdleConnsPerHost int
	// MaxIdleConns bounds the idle connections kept over all hosts; the
	// oldest goes first. 0: no limit.
	MaxIdleConns int
	// IdleConnTimeout is how long an idle connection may be reused; an
	// older one is closed when next taken (no timer runs). 0:
	// DefaultIdleConnTimeout; negative: no limit.
	IdleConnTimeout time.Duration
	// MaxReplyBytes bounds a reply body. 0: DefaultMaxReplyBytes.
	MaxReplyBytes int64
	// Buffers is where the request and reply buffers come from and go
	// back to when a request is done; nil: the Transport's own. Many
	// Transports (one per simulated client) share one so that only the
	// requests in flight hold buffers.
	Buffers *Buffers

	mu sync.Mutex // guards the fields below and every hostPool's
	// hosts are the pools by scheme and host: a slice, searched, for the
	// few hosts a client talks to (a map would cost an idle simulated
	// client more than its connection).
	hosts []*hostPool
	idle  int // idle connections over all hosts

	own     Buffers // without Buffers
	tlsOnce sync.Once
	tlsBase *tls.Config
}

var _ http.RoundTripper = (*Transport)(nil)

// hostPool is the connections of one scheme and host. Its fields are
// guarded by Transport.mu.
type hostPool struct {
	secure  bool   // https
	host    string // as in the URL
	addr    string // host:port
	tls     *tls.Config
	idle    []*conn // oldest first; taken from the end
	open    int     // connections dialling, in use or idle
	waiters []chan *conn
}

// RoundTrip sends r on an idle or a new connection and reads the reply's
// status line and header; the body is read from the returned Response by
// the caller. It closes r.Body. Like net/http, it returns a non-2xx status
// as a Response, not an error, and when the request's context ends it
// returns context.Cause of it. A request sent on a reused connection that
// fails before any byte of the reply arrives (the server closed it while
// idle) is sent once more on a new connection when net/http would: its
// body is replayable (nil or GetBody) and it is idempotent (its method, or
// an Idempotency-Key or X-Idempotency-Key header).
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	hp, err := t.hostFor(r)
	if err != nil {
		closeReqBody(r)
		return nil, err
	}
	ctx := r.Context()
	if ctx.Err() != nil {
		closeReqBody(r)
		return nil, context.Cause(ctx)
	}
	bufs := t.bufs()
	wb := bufs.getWriteBuf()
	defer bufs.putWriteBuf(wb)
	*wb, err = appendRequest((*wb)[:0], r)
	closeReqBody(r)
	if err != nil {
		return nil, err
	}
	retried := false
	for {
		c, err := t.getConn(ctx, hp)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(ctx, r, *wb)
		if err == nil {
			return resp, nil
		}
		if errors.Is(err, errStale) {
			continue // nothing was sent on it
		}
		if c.reused && !retried && errors.Is(err, errNothingRead) && replayable(r) {
			retried = true
			continue
		}
		return nil, err
	}
}

// CloseIdleConnections closes the idle connections. Connections in use
// are closed when their reply is done with; the Transport stays usable.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	var idle []*conn
	for _, hp := range t.hosts {
		idle = append(idle, hp.idle...)
		clear(hp.idle)
		hp.idle = hp.idle[:0]
	}
	t.idle = 0
	t.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// hostFor returns the pool for r's scheme and host.
func (t *Transport) hostFor(r *http.Request) (*hostPool, error) {
	u := r.URL
	if u == nil {
		return nil, fmt.Errorf("%w: nil URL", ErrBadRequest)
	}
	var port string
	var secure bool
	switch u.Scheme {
	case "http":
		port = "80"
	case "https":
		port, secure = "443", true
	default:
		return nil, fmt.Errorf("%w: unsupported protocol scheme %q", ErrBadRequest, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: no host in URL", ErrBadRequest)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, hp := range t.hosts {
		if hp.host == u.Host && hp.secure == secure {
			return hp, nil
		}
	}
	host := u.Hostname()
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(host, port)
	}
	hp := &hostPool{secure: secure, host: u.Host, addr: addr}
	if secure {
		cfg := t.tlsConfig().Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		hp.tls = cfg
	}
	t.hosts = append(t.hosts, hp)
	return hp, nil
}

// tlsConfig returns the base TLS configuration: TLSClientConfig's with
// HTTP/1.1 as the only application protocol.
func (t *Transport) tlsConfig() *tls.Config {
	t.tlsOnce.Do(func() {
		if t.TLSClientConfig != nil {
			t.tlsBase = t.TLSClientConfig.Clone()
		} else {
			t.tlsBase = &tls.Config{}
		}
		t.tlsBase.NextProtos = []string{"http/1.1"}
	})
	return t.tlsBase
}

func (t *Transport) maxReply() int64 {
	if t.MaxReplyBytes > 0 {
		return t.MaxReplyBytes
	}
	return DefaultMaxReplyBytes
}

func (t *Transport) maxIdlePerHost() int {
	if t.MaxIdleConnsPerHost == 0 {
		return DefaultMaxIdleConnsPerHost
	}
	return max(t.MaxIdleConnsPerHost, 0)
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleConnTimeout == 0 {
		return DefaultIdleConnTimeout
	}
	return t.IdleConnTimeout
}

// Buffers pools the buffers of Transports: a request's encoding and a
// reply's bufio.Reader, which a connection gives back when it goes idle.
// The zero value is ready to use, with readers of DefaultReadBufferSize
// bytes. It is safe for concurrent use; it must not be copied after first
// use.
type Buffers struct {
	// ReadSize is the size of the read buffers; 0:
	// DefaultReadBufferSize. Set it before first use.
	ReadSize int

	readers sync.Pool // *bufio.Reader
	writers sync.Pool // *[]byte
}

func (t *Transport) bufs() *Buffers {
	if t.Buffers != nil {
		return t.Buffers
	}
	return &t.own
}

func (b *Buffers) getWriteBuf() *[]byte {
	if w, ok := b.writers.Get().(*[]byte); ok {
		return w
	}
	w := make([]byte, 0, 1<<10)
	return &w
}

// putWriteBuf keeps w for the next request unless a large body grew it.
func (b *Buffers) putWriteBuf(w *[]byte) {
	if cap(*w) <= 64<<10 {
		b.writers.Put(w)
	}
}

func (b *Buffers) getReader(nc net.Conn) *bufio.Reader {
	if br, ok := b.readers.Get().(*bufio.Reader); ok {
		br.Reset(nc)
		return br
	}
	size := b.ReadSize
	if size <= 0 {
		size = DefaultReadBufferSize
	}
	return bufio.NewReaderSize(nc, size)
}

func (b *Buffers) putReader(br *bufio.Reader) {
	br.Reset(nil)
	b.readers.Put(br)
}

// getConn returns an idle connection of hp, or a new one, waiting while
// hp is at MaxConnsPerHost.
func (t *Transport) getConn(ctx context.Context, hp *hostPool) (*conn, error) {
	for {
		t.mu.Lock()
		if n := len(hp.idle); n > 0 {
			c := hp.idle[n-1]
			hp.idle[n-1] = nil
			hp.idle = hp.idle[:n-1]
			t.idle--
			t.mu.Unlock()
			if c.expired(t.idleTimeout()) {
				c.close()
				continue
			}
			return c, nil
		}
		if t.MaxConnsPerHost <= 0 || hp.open < t.MaxConnsPerHost {
			hp.open++
			t.mu.Unlock()
			return t.dial(ctx, hp)
		}
		// At the limit: wait for a connection to come back idle (handed
		// over) or to close (a nil hand-over: dial in its place).
		w := make(chan *conn, 1)
		hp.waiters = append(hp.waiters, w)
		t.mu.Unlock()
		select {
		case c := <-w:
			if c == nil {
				return t.dial(ctx, hp)
			}
			return c, nil
		case <-ctx.Done():
			t.mu.Lock()
			queued := false
			for i, q := range hp.waiters {
				if q == w {
					hp.waiters = append(hp.waiters[:i], hp.waiters[i+1:]...)
					queued = true
					break
				}
			}
			t.mu.Unlock()
			if !queued { // handed something meanwhile: pass it on
				if c := <-w; c != nil {
					t.putIdle(c)
				} else {
					t.released(hp)
				}
			}
			return nil, context.Cause(ctx)
		}
	}
}

// dial opens a connection to hp; hp.open already counts it.
func (t *Transport) dial(ctx context.Context, hp *hostPool) (*conn, error) {
	dctx := ctx
	if _, ok := ctx.Deadline(); !ok && t.DialContext == nil {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, DefaultDialTimeout)
		defer cancel()
	}
	dial := t.DialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	raw, err := dial(dctx, "tcp", hp.addr)
	if err != nil {
		t.released(hp)
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	c := &conn{t: t, hp: hp, nc: raw, raw: raw}
	if hp.tls != nil {
		tc := tls.Client(raw, hp.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			t.released(hp)
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, err
		}
		st := tc.ConnectionState()
		c.nc, c.tlsState = tc, &st
	}
	return c, nil
}

// putIdle hands c to a waiter or keeps it idle, within the limits; it
// closes what does not fit.
func (t *Transport) putIdle(c *conn) {
	hp := c.hp
	var evict *conn
	t.mu.Lock()
	if len(hp.waiters) > 0 {
		w := hp.waiters[0]
		hp.waiters = hp.waiters[1:]
		t.mu.Unlock()
		w <- c
		return
	}
	if len(hp.idle) >= t.maxIdlePerHost() {
		t.mu.Unlock()
		c.close()
		return
	}
	if t.MaxIdleConns > 0 && t.idle >= t.MaxIdleConns {
		evict = t.oldestIdleLocked()
		if evict == nil {
			t.mu.Unlock()
			c.close()
			return
		}
	}
	c.idleAt = time.Now()
	hp.idle = append(hp.idle, c)
	t.idle++
	t.mu.Unlock()
	if evict != nil {
		evict.close()
	}
}

// oldestIdleLocked removes and returns the oldest idle connection over all
// hosts, or nil. Caller holds t.mu.
func (t *Transport) oldestIdleLocked() *conn {
	var from *hostPool
	for _, hp := range t.hosts {
		if len(hp.idle) > 0 && (from == nil || hp.idle[0].idleAt.Before(from.idle[0].idleAt)) {
			from = hp
		}
	}
	if from == nil {
		return nil
	}
	c := from.idle[0]
	from.idle[0] = nil
	from.idle = from.idle[1:]
	t.idle--
	return c
}

// released accounts for a connection of hp that closed (or was never
// opened): a waiter may dial in its place.
func (t *Transport) released(hp *hostPool) {
	t.mu.Lock()
	if len(hp.waiters) > 0 {
		w := hp.waiters[0]
		hp.waiters = hp.waiters[1:]
		t.mu.Unlock()
		w <- nil // hp.open still counts the slot: it is the waiter's now
		return
	}
	hp.open--
	t.mu.Unlock()
}

// replayable reports whether r may be sent again after a reused
// connection failed before any of the reply: net/http's rule.
func replayable(r *http.Request) bool {
	if r.Body != nil && r.Body != http.NoBody && r.GetBody == nil {
		return false
	}
	switch r.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := r.Header["Idempotency-Key"]
	_, b := r.Header["X-Idempotency-Key"]
	return a || b
}

func closeReqBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
}

// appendRequest appends r's request line, header and body to dst. It reads
// but does not close r.Body.
func appendRequest(dst []byte, r *http.Request) ([]byte, error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		return dst, fmt.Errorf("%w: invalid method %q", ErrBadRequest, method)
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	if !validValue(host) {
		return dst, fmt.Errorf("%w: invalid Host", ErrBadRequest)
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	if u := r.URL; u.Opaque != "" {
		dst = append(dst, u.Opaque...)
	} else {
		p := u.EscapedPath()
		if p == "" {
			p = "/"
		}
		dst = append(dst, p...)
	}
	if r.URL.ForceQuery || r.URL.RawQuery != "" {
		dst = append(dst, '?')
		dst = append(dst, r.URL.RawQuery...)
	}
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\n"...)
	closeSent := false
	for k, vs := range r.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !validToken(k) {
			return dst, fmt.Errorf("%w: invalid header name %q", ErrBadRequest, k)
		}
		for _, v := range vs {
			if !validValue(v) {
				return dst, fmt.Errorf("%w: invalid value of header %q", ErrBadRequest, k)
			}
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
			if k == "Connection" && hasToken(v, "close") {
				closeSent = true
			}
		}
	}
	if _, ok := r.Header["User-Agent"]; !ok {
		dst = append(dst, "User-Agent: Go-http-client/1.1\r\n"...)
	}
	if r.Close && !closeSent {
		dst = append(dst, "Connection: close\r\n"...)
	}
	hasBody := r.Body != nil && r.Body != http.NoBody
	switch {
	case hasBody && r.ContentLength > 0:
		dst = append(dst, "Content-Length: "...)
		dst = appendInt(dst, r.ContentLength)
		dst = append(dst, "\r\n\r\n"...)
		n := len(dst)
		dst = growTo(dst, n+int(r.ContentLength))
		if _, err := io.ReadFull(r.Body, dst[n:]); err != nil {
			return dst[:n], fmt.Errorf("%w: body shorter than its ContentLength %d: %w", ErrBadRequest, r.ContentLength, err)
		}
	case hasBody:
		// Unknown length: read it, then say it.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return dst, fmt.Errorf("%w: reading the body: %w", ErrBadRequest, err)
		}
		dst = appendLength(dst, int64(len(body)), method)
		dst = append(dst, body...)
	default:
		dst = appendLength(dst, 0, method)
	}
	return dst, nil
}

// appendLength ends the header with a Content-Length for a body of n bytes:
// none for an empty body of a method that takes none, as net/http does.
func appendLength(dst []byte, n int64, method string) []byte {
	if n > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		dst = append(dst, "Content-Length: "...)
		dst = appendInt(dst, n)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

func appendInt(dst []byte, n int64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

func growTo(b []byte, n int) []byte {
	if n <= cap(b) {
		return b[:n]
	}
	nb := make([]byte, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// validToken reports whether s is an HTTP token (a method or header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validValue reports whether s may be sent as a header value: no control
// byte but tab.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token
// (case-insensitive).
func hasToken(v, token string) bool {
	for v != "" {
		var part string
		part, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.Trim(part, " \t"), token) {
			return true
		}
	}
	return false
}
