package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	retryablehttp "github.com/hashicorp/go-retryablehttp"

	"github.com/regfleet/regfleet/internal/wire"
)

// outcome classes of one attempt.
type class int

const (
	classOK        class = iota // a result reply
	classPermanent              // the server answered; no retry can help
	classTransient              // try the next endpoint
	classCanceled               // the caller canceled: no verdict on the endpoint
	classDeadline               // the caller's deadline ended the attempt without a reply
)

// transientCode reports whether an exception code is worth a retry elsewhere.
func transientCode(code int) bool { return code == wire.CodeDatabase }

// readOnly reports whether a command without a requestid may be sent twice
// (a hedge) without changing anything twice.
func readOnly(cmd string) bool {
	switch cmd {
	case wire.CmdGetMessages, wire.CmdGetSettings, wire.CmdAckMessages, wire.CmdLoginUser:
		return true
	}
	return false
}

// userAgent is the User-Agent of every request.
const userAgent = "regfleet-client/1"

// errAttemptTimeout is the cause of an attempt's own deadline.
var errAttemptTimeout = errors.New("attempt timeout")

// call is the state of one logical call across its attempts. The
// go-retryablehttp policies of the call are its methods, and it is the
// http.RoundTripper of its attempts (attempt budget and hedging). Its fields
// are used by the calling goroutine only; a hedge's goroutine reads only
// the immutable ones (c, ctx, query, body).
type call struct {
	c     *Client
	ctx   context.Context
	cmd   string
	query string // checksum query, or ""
	body  []byte // encoded request
	hc    http.Client
	// Allocated with the call rather than one by one per call: the
	// go-retryablehttp client and request, and the header values.
	rc   retryablehttp.Client
	rreq retryablehttp.Request
	hdr  [2]string // Content-Type, User-Agent

	attempts int
	tried    uint64 // endpoints attempted
	failed   uint64 // endpoints that failed transiently
	cur      *endpoint
	next     *endpoint
	wait     time.Duration

	causes     []error
	names      []string      // endpoints attempted, in order
	namesBuf   [4]string     // backing array of names for most calls
	retryAfter time.Duration // shortest Retry-After seen
	allRA      bool          // every transient failure carried a Retry-After
	answered   bool          // an endpoint answered, asking to slow down (429)
	budgetOut  bool
	// hedgeable: the request may be sent twice (it carries a requestid
	// the server de-duplicates, or it changes nothing).
	hedgeable bool

	reply *wire.Reply
	perm  error // permanent outcome (server error, HTTP 4xx)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// do sends one request with failover and retries and returns the decoded
// result reply, and tells Config.OnCall about the call when set.
func (c *Client) do(ctx context.Context, req *wire.Request) (*wire.Reply, error) {
	if c.cfg.OnCall == nil {
		reply, _, err := c.send(ctx, req)
		c.noteOutcome(req.Command, req.Session != "", err)
		return reply, err
	}
	start := time.Now()
	reply, cs, err := c.send(ctx, req)
	c.noteOutcome(req.Command, req.Session != "", err)
	info := CallInfo{Command: req.Command, Start: start, Due: takeDue(ctx), Duration: time.Since(start), Err: err}
	if reply != nil {
		info.Messages = len(reply.Messages)
	}
	if cs != nil {
		info.Attempts = cs.attempts
		if cs.cur != nil {
			info.Endpoint = cs.cur.name
		}
	}
	c.cfg.OnCall(info)
	return reply, err
}

// send sends one request with failover and retries and returns the decoded
// result reply and the call's state (nil when no attempt was made). A
// permanent answer returns *ServerError or *HTTPError; a call no endpoint
// could serve returns *CallError; Close during the call, ErrClosed.
func (c *Client) send(ctx context.Context, req *wire.Request) (*wire.Reply, *call, error) {
	if c.closed() {
		return nil, nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	// Close cancels the call.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.ctx, cancel)()

	// The body is not pooled: net/http may still read it after RoundTrip
	// returns (a reply before the whole body was written, a canceled
	// hedge).
	body, err := wire.AppendRequest(nil, req)
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s: %w", req.Command, err)
	}
	cs := &call{c: c, ctx: ctx, cmd: req.Command, allRA: true}
	cs.hedgeable = c.httpc.Jar == nil && (req.RequestID != "" || readOnly(req.Command))
	cs.names = cs.namesBuf[:0]
	cs.hc = http.Client{Transport: cs, Jar: c.httpc.Jar, CheckRedirect: c.httpc.CheckRedirect}
	if c.cfg.Salt != "" {
		cs.query = wire.ChecksumParam + "=" + wire.Checksum(body, c.cfg.Salt)
	}
	e := c.pool.pick(0, false)
	cs.cur = e
	c.stats.calls.Add(1)
	start := time.Now()
	c.budget.call(start)

	// What http.NewRequestWithContext makes, without parsing a URL that
	// target replaces at once. The header values are the call's (Header
	// methods replace a value slice, never write into it).
	cs.hdr = [2]string{wire.ContentType, userAgent}
	hreq := (&http.Request{
		Method:     http.MethodPost,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Content-Type": cs.hdr[0:1:1], "User-Agent": cs.hdr[1:2:2]},
	}).WithContext(ctx)
	cs.target(hreq, e)
	// The request goes to go-retryablehttp without a body of its own
	// (what FromRequest makes of a request with a nil Body), so that it
	// manages none: the body is set here and replayed by prepareRetry
	// (and by net/http through GetBody), which costs fewer allocations
	// than SetBody.
	cs.rreq.Request = hreq
	cs.body = body
	hreq.ContentLength = int64(len(body))
	hreq.GetBody = cs.getBody
	hreq.Body, _ = cs.getBody()
	cs.rc = retryablehttp.Client{
		HTTPClient:   &cs.hc,
		RetryWaitMin: c.cfg.RetryWaitMin,
		RetryWaitMax: c.cfg.RetryWaitMax,
		RetryMax:     c.cfg.MaxAttempts + 1, // cs.checkRetry stops first
		CheckRetry:   cs.checkRetry,
		Backoff:      cs.backoff,
		PrepareRetry: cs.prepareRetry,
		ErrorHandler: cs.errorHandler,
	}
	resp, err := cs.rc.Do(&cs.rreq)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	switch {
	case cs.reply != nil:
		c.reachedExcept(cs.failed)
		return cs.reply, cs, nil
	case cs.perm != nil:
		c.reachedExcept(cs.failed)
		return nil, cs, cs.perm
	case c.closed():
		return nil, cs, ErrClosed
	}
	if err != nil && !errors.Is(err, ErrUnavailable) {
		// go-retryablehttp returned the context's error during a wait.
		err = cs.exhausted(err)
	}
	if err == nil {
		err = cs.exhausted(nil)
	}
	switch {
	case cs.answered:
		// A server that says "slow down" is reachable.
		c.reachedExcept(cs.failed)
	case cs.failed != 0 && (cs.failed|c.pool.snap.Load().ejected) == c.pool.mask:
		c.unreachable(err, start)
	}
	return nil, cs, err
}

// target points r at endpoint e.
func (cs *call) target(r *http.Request, e *endpoint) {
	u := *e.api
	u.RawQuery = cs.query
	r.URL = &u
	r.Host = u.Host
}

// exhausted builds the *CallError of a call that no endpoint could serve.
func (cs *call) exhausted(extra error) error {
	causes := cs.causes
	if extra != nil {
		causes = append(causes[:len(causes):len(causes)], extra)
	}
	if cs.budgetOut {
		causes = append(causes[:len(causes):len(causes)], ErrRetryBudget)
	}
	ce := &CallError{
		Command:   cs.cmd,
		Attempts:  cs.attempts,
		Endpoints: cs.names,
		Err:       errors.Join(causes...),
	}
	if cs.allRA && len(cs.causes) > 0 {
		ce.RetryAfter = cs.retryAfter
	}
	return ce
}

// attempted counts an attempt on e.
func (cs *call) attempted(e *endpoint) {
	cs.attempts++
	if cs.tried&e.bit == 0 {
		cs.names = append(cs.names, e.name)
	}
	cs.tried |= e.bit
	e.requests.Add(1)
	cs.c.stats.attempts.Add(1)
}

// failedOn records a transient failure of an attempt on e: against its
// health (unless it only asked to slow down), and as a cause of the call.
func (cs *call) failedOn(e *endpoint, ra time.Duration, cause error) {
	var he *HTTPError
	slowDown := errors.As(cause, &he) && he.StatusCode == http.StatusTooManyRequests
	cs.c.pool.failure(e, ra, !slowDown)
	if slowDown {
		cs.answered = true
	} else {
		cs.failed |= e.bit
	}
	cs.causes = append(cs.causes, &AttemptError{Endpoint: e.name, Err: cause})
	if ra > 0 {
		if cs.retryAfter == 0 || ra < cs.retryAfter {
			cs.retryAfter = ra
		}
	} else {
		cs.allRA = false
	}
}

// checkRetry is the CheckRetry policy: it classifies the attempt (reading
// and decoding a 200 reply, bounded), reports it to the endpoint's health,
// and decides whether another attempt is allowed: attempts left, retry
// budget, another endpoint, and a backoff that ends before the deadline.
func (cs *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	c, e := cs.c, cs.cur
	cs.attempted(e)

	cl, ra, cause := cs.classify(resp, err)
	switch cl {
	case classOK:
		c.pool.success(e)
		return false, nil
	case classPermanent:
		c.pool.success(e)
		cs.perm = cause
		return false, cause
	case classCanceled:
		return false, cs.exhausted(ctx.Err())
	case classDeadline:
		// No reply before the caller's deadline: that counts against
		// the endpoint's health (a black hole must be ejected even when
		// every caller's deadline is shorter than AttemptTimeout), but a
		// caller's short deadline alone does not turn the light Red.
		c.pool.failure(e, 0, true)
		cs.causes = append(cs.causes, &AttemptError{Endpoint: e.name, Err: cause})
		return false, cs.exhausted(nil)
	}
	cs.failedOn(e, ra, cause)

	if cs.attempts >= c.cfg.MaxAttempts || ctx.Err() != nil || c.closed() {
		return false, cs.exhausted(ctx.Err())
	}
	next := c.pool.pick(cs.tried, false)
	if next == nil {
		// Every endpoint was tried: go round again, but not to the one
		// that just failed while another exists. With no other (a single
		// URL, such as a load balancer's), retry that one after the
		// backoff: its failure may have been a reset connection.
		next = c.pool.pick(e.bit, false)
		if next == nil {
			next = c.pool.pick(0, false)
		}
	}
	wait := cs.backoffFor(cs.attempts - 1)
	if hold := c.pool.holdRemaining(next); hold > wait {
		if hold > c.cfg.RetryWaitMax {
			return false, cs.exhausted(nil)
		}
		wait = hold
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
		return false, cs.exhausted(fmt.Errorf("next attempt would start after the deadline: %w", context.DeadlineExceeded))
	}
	if !c.budget.allowRetry(time.Now()) {
		c.stats.denied.Add(1)
		cs.budgetOut = true
		return false, cs.exhausted(nil)
	}
	c.stats.retries.Add(1)
	cs.next, cs.wait = next, wait
	return true, nil
}

// backoffFor is full-jitter exponential backoff: uniform in
// [0, min(RetryWaitMax, RetryWaitMin·2^n)), or that cap without jitter.
func (cs *call) backoffFor(n int) time.Duration {
	cfg := cs.c.cfg
	d := cfg.RetryWaitMin << uint(min(n, 30))
	if d > cfg.RetryWaitMax || d <= 0 {
		d = cfg.RetryWaitMax
	}
	if cfg.DisableJitter {
		return d
	}
	return cs.c.randDuration(d)
}

// backoff is the Backoff policy: the wait checkRetry computed.
func (cs *call) backoff(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
	return cs.wait
}

// prepareRetry is the PrepareRetry policy: the next attempt goes to the
// endpoint checkRetry picked.
func (cs *call) prepareRetry(r *http.Request) error {
	cs.cur = cs.next
	cs.next = nil
	cs.target(r, cs.cur)
	r.Body, _ = cs.getBody()
	return nil
}

// getBody returns a fresh reader over the call's request body (the
// http.Request GetBody of every attempt). It is a NopCloser over a
// *bytes.Reader so that net/http knows the body is in memory and writes it
// with the headers.
func (cs *call) getBody() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(cs.body)), nil
}

// errorHandler is the ErrorHandler policy: bodies are already consumed, the
// error is checkRetry's.
func (cs *call) errorHandler(resp *http.Response, err error, _ int) (*http.Response, error) {
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err == nil {
		err = cs.exhausted(nil)
	}
	return nil, err
}

// drainLimit bounds what is read from a reply that is not used.
const drainLimit = 64 << 10

func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	body.Close()
}

// classify maps one attempt's result to its class per PROTOCOL.md. It
// consumes and closes the body (replacing it with http.NoBody).
func (cs *call) classify(resp *http.Response, err error) (class, time.Duration, error) {
	if err != nil {
		var te *TimeoutError
		switch {
		case errors.As(err, &te) && cs.ctx.Err() == nil:
			return classTransient, 0, te
		case errors.Is(cs.ctx.Err(), context.DeadlineExceeded) && !cs.c.closed():
			return classDeadline, 0, fmt.Errorf("no reply before the caller's deadline: %w", context.DeadlineExceeded)
		case cs.ctx.Err() != nil:
			return classCanceled, 0, cs.ctx.Err()
		}
		return classTransient, 0, redactErr(err)
	}
	defer func() { resp.Body = http.NoBody }()
	e := cs.cur
	code := resp.StatusCode
	switch {
	case code == http.StatusOK:
		return cs.classifyBody(resp, e, http.StatusOK)
	case code == http.StatusTooManyRequests || code == http.StatusBadGateway ||
		code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
		ra := cs.c.parseRetryAfter(resp.Header.Get("Retry-After"))
		drainClose(resp.Body)
		return classTransient, ra, &HTTPError{StatusCode: code, Command: cs.cmd, Endpoint: e.name, RetryAfter: ra}
	case code == http.StatusRequestTimeout || code >= 500:
		drainClose(resp.Body)
		return classTransient, 0, &HTTPError{StatusCode: code, Command: cs.cmd, Endpoint: e.name}
	case code == http.StatusRequestEntityTooLarge:
		// The request itself is too large for this server: no retry of
		// it can succeed.
		drainClose(resp.Body)
		return classPermanent, 0, &HTTPError{StatusCode: code, Command: cs.cmd, Endpoint: e.name}
	case code >= 400:
		// The body decides before the status: a proxy's or a captive
		// portal's page (HTML with 403, 404, 407 …) is not the
		// Registration Server answering, and counts toward Red.
		return cs.classifyBody(resp, e, code)
	default:
		drainClose(resp.Body)
		return classTransient, 0, fmt.Errorf("%w: HTTP %d", ErrNotRegistrationServer, code)
	}
}

// classifyBody reads a reply body (bounded by wire.MaxBodySize) and
// classifies it: a result (status 200 only), an exception, or, for a body
// that is not a <teamdrive> document, a transient ErrNotRegistrationServer.
// A <teamdrive> document with an HTTP 4xx status is a permanent *HTTPError.
func (cs *call) classifyBody(resp *http.Response, e *endpoint, code int) (class, time.Duration, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	_, rerr := buf.ReadFrom(io.LimitReader(resp.Body, wire.MaxBodySize+1))
	if rerr != nil {
		drainClose(resp.Body)
		if cs.ctx.Err() != nil {
			return classCanceled, 0, cs.ctx.Err()
		}
		return classTransient, 0, fmt.Errorf("reading reply: %w", redactErr(rerr))
	}
	if buf.Len() > wire.MaxBodySize {
		drainClose(resp.Body)
		return classTransient, 0, fmt.Errorf("%w: reply over %d bytes", ErrNotRegistrationServer, wire.MaxBodySize)
	}
	resp.Body.Close()
	rep, derr := wire.DecodeReply(buf.Bytes())
	if derr != nil {
		if code != http.StatusOK {
			return classTransient, 0, fmt.Errorf("%w: HTTP %d with a body that is not a <teamdrive> document", ErrNotRegistrationServer, code)
		}
		return classTransient, 0, fmt.Errorf("%w: %w", ErrNotRegistrationServer, derr)
	}
	if x := rep.Exception; x != nil {
		se := &ServerError{Primary: x.PrimaryCode, Secondary: x.SecondaryCode, Message: x.Message, Command: cs.cmd, Endpoint: e.name}
		if transientCode(x.PrimaryCode) {
			return classTransient, 0, se
		}
		return classPermanent, 0, se
	}
	if code != http.StatusOK {
		return classPermanent, 0, &HTTPError{StatusCode: code, Command: cs.cmd, Endpoint: e.name}
	}
	cs.reply = rep
	return classOK, 0, nil
}

// parseRetryAfter reads a Retry-After header (seconds or HTTP date), capped
// at MaxRetryAfter. It returns 0 when absent or invalid.
func (c *Client) parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(c.cfg.MaxRetryAfter/time.Second) {
			return c.cfg.MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	if d <= 0 {
		return 0
	}
	return min(d, c.cfg.MaxRetryAfter)
}

// retryBudget allows retries up to a share of the calls of a sliding window
// (ten buckets), with a floor. Safe for concurrent use.
type retryBudget struct {
	ratio  float64
	floor  int
	bucket time.Duration

	mu      sync.Mutex
	slots   [10]budgetSlot
	calls   int // sum over live slots
	retries int
}

type budgetSlot struct {
	epoch          int64
	calls, retries int
}

func newRetryBudget(ratio float64, floor int, window time.Duration) *retryBudget {
	return &retryBudget{ratio: ratio, floor: floor, bucket: max(window/10, time.Nanosecond)}
}

// advanceLocked expires slots older than the window and returns the current
// slot. Caller holds b.mu.
func (b *retryBudget) advanceLocked(now time.Time) *budgetSlot {
	epoch := now.UnixNano() / int64(b.bucket)
	for i := range b.slots {
		s := &b.slots[i]
		if s.epoch <= epoch-int64(len(b.slots)) || s.epoch > epoch {
			b.calls -= s.calls
			b.retries -= s.retries
			*s = budgetSlot{}
		}
	}
	s := &b.slots[epoch%int64(len(b.slots))]
	if s.epoch != epoch {
		b.calls -= s.calls
		b.retries -= s.retries
		*s = budgetSlot{epoch: epoch}
	}
	return s
}

func (b *retryBudget) call(now time.Time) {
	b.mu.Lock()
	b.advanceLocked(now).calls++
	b.calls++
	b.mu.Unlock()
}

func (b *retryBudget) allowRetry(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.advanceLocked(now)
	if float64(b.retries+1) > max(float64(b.floor), b.ratio*float64(b.calls)) {
		return false
	}
	s.retries++
	b.retries++
	return true
}

// assert that the policies match go-retryablehttp's types.
var (
	_ retryablehttp.CheckRetry   = (*call)(nil).checkRetry
	_ retryablehttp.Backoff      = (*call)(nil).backoff
	_ retryablehttp.PrepareRetry = (*call)(nil).prepareRetry
	_ retryablehttp.ErrorHandler = (*call)(nil).errorHandler
)
