package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// Internal errors that RoundTrip retries on.
var (
	// errStale: a reused connection was found closed before the request
	// was written on it.
	errStale = errors.New("h1: idle connection closed by the server")
	// errNothingRead: the request failed on a reused connection before
	// any byte of the reply arrived.
	errNothingRead = errors.New("h1: connection failed before the reply")
)

// aLongTimeAgo is a deadline in the past: it interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one connection. It is used by one request at a time: the
// goroutine that took it from the pool, or that reads its reply's body.
type conn struct {
	t        *Transport
	hp       *hostPool
	nc       net.Conn // the connection, a *tls.Conn over raw for https
	raw      net.Conn // the TCP connection, for the liveness check
	br       *bufio.Reader
	tlsState *tls.ConnectionState
	idleAt   time.Time // when it was last put idle
	reused   bool      // it served a request before
	deadline bool      // a deadline is set on nc
	closed   bool
	probe    prober // liveness check state, see alive
}

// expired reports whether c has been idle longer than d (d < 0: never).
func (c *conn) expired(d time.Duration) bool {
	return d >= 0 && time.Since(c.idleAt) > d
}

// close closes c and frees its slot of the host's connections. Idempotent.
func (c *conn) close() {
	if c.closed {
		return
	}
	c.closed = true
	_ = c.nc.Close()
	if c.br != nil {
		c.t.bufs().putReader(c.br)
		c.br = nil
	}
	c.t.released(c.hp)
}

// interrupt ends blocked I/O on c: the request's context ended.
func (c *conn) interrupt() { _ = c.nc.SetDeadline(aLongTimeAgo) }

// roundTrip writes req (the encoded r) on c and reads the reply's header.
// On an error c is closed.
func (c *conn) roundTrip(ctx context.Context, r *http.Request, req []byte) (*http.Response, error) {
	dl, hasDL := ctx.Deadline()
	switch {
	case hasDL:
		_ = c.nc.SetDeadline(dl)
		c.deadline = true
	case c.deadline:
		_ = c.nc.SetDeadline(time.Time{})
		c.deadline = false
	}
	if c.reused && !c.alive() {
		c.close()
		return nil, errStale
	}
	// Set after the deadline: once registered, only the AfterFunc may
	// set one, until stop says it will not run.
	stop := noStop
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.interrupt)
	}
	if c.br == nil {
		c.br = c.t.bufs().getReader(c.nc)
	}
	fail := func(err error, nothingRead bool) (*http.Response, error) {
		stop()
		c.close()
		if err := ctxErr(ctx, err); err != nil {
			return nil, err
		}
		if nothingRead && c.reused {
			return nil, fmt.Errorf("%w: %w", errNothingRead, err)
		}
		return nil, err
	}
	if _, err := c.nc.Write(req); err != nil {
		return fail(err, true)
	}
	if _, err := c.br.Peek(1); err != nil {
		return fail(err, true)
	}
	rep, err := readResponse(c.br, r.Method, c.t.maxReply())
	if err != nil {
		return fail(err, false)
	}
	resp := &rep.resp
	resp.Request = r
	resp.TLS = c.tlsState
	b := &rep.body
	b.c, b.ctx, b.stop = c, ctx, stop
	// As net/http: a Connection: close header of the request alone
	// leaves the closing to the server, which it asks to.
	b.keep = !resp.Close && !r.Close
	if b.state == bodyDone { // no body: the connection is free now
		b.finish(true)
	}
	return resp, nil
}

func noStop() bool { return true }

// done is called by the reply body when it ends: at EOF (keep says
// whether the connection may serve another request) or on an error or an
// early Close. stop is the AfterFunc's.
func (c *conn) done(keep bool, stop func() bool) {
	// stop false: the AfterFunc ran or runs, its deadline in the past
	// may land at any time: the connection cannot be trusted.
	if !stop() || !keep || c.br.Buffered() > 0 {
		c.close()
		return
	}
	c.t.bufs().putReader(c.br)
	c.br = nil
	c.reused = true
	c.t.putIdle(c)
}

// ctxErr returns the context's cause when ctx ended the I/O that failed
// with err (an interrupt, or a deadline that fired before the context's own
// timer), and nil otherwise.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			<-ctx.Done() // its deadline passed: it is done, or about to be
			return context.Cause(ctx)
		}
	}
	return nil
}
