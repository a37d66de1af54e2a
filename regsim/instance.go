package regsim

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// Instance is one simulated Registration Server of a Cluster. It is an
// http.Handler serving the API path (POST only) and /healthz (GET, HEAD);
// other paths get 404. Its faults are switched with SetFault. All methods are
// safe for concurrent use.
type Instance struct {
	c     *Cluster
	index int
	host  string   // in-memory host name, e.g. "instance0.regsim.test"
	hdrID []string // value of the X-Regsim-Instance header

	fault    atomic.Pointer[faultState]
	requests atomic.Int64 // API requests
	open     atomic.Int64 // open connections (or in-memory requests)

	mu     sync.Mutex   // guards addr, srv, closed, and serializes fault changes
	addr   string       // listen address; "" without sockets
	srv    *http.Server // nil while down or without sockets
	ln     net.Listener // srv's listener, closed with it
	closed bool
}

// InstanceHeader names the response header that carries the index of the
// instance that answered.
const InstanceHeader = "X-Regsim-Instance"

var _ http.Handler = (*Instance)(nil)

// Index returns the instance's position in the cluster.
func (in *Instance) Index() int { return in.index }

// URL returns the instance's base URL (see Cluster.URLs).
func (in *Instance) URL() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.addr != "" {
		return "http://" + in.addr
	}
	return "http://" + in.host
}

// Fault returns the instance's current faults.
func (in *Instance) Fault() Fault { return in.fault.Load().f }

// SetFault replaces the instance's faults; Fault{} clears them, restoring
// service at once: hung and delayed requests are released and, after Down,
// the instance listens again on the same port. Out-of-range values are
// clamped (ErrorRate to [0, 1], negative durations to 0). If listening again
// fails, the error is logged and the instance stays down; SetFaultErr
// reports it.
func (in *Instance) SetFault(f Fault) {
	if err := in.SetFaultErr(f); err != nil {
		in.c.log.Error("regsim: instance cannot listen again", "instance", in.index, "err", err)
	}
}

// SetFaultErr is SetFault that returns the error of listening again after
// Down was cleared, or ErrClosed after Close (the fault is still recorded).
func (in *Instance) SetFaultErr(f Fault) error {
	return in.updateFault(func(Fault) Fault { return f })
}

// updateFault replaces the instance's faults by fn's change of them, as
// one step: two updates at once (two control requests) both take effect.
func (in *Instance) updateFault(fn func(Fault) Fault) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	f := fn(in.Fault()).normalized()
	old := in.fault.Swap(newFaultState(f))
	// Close the listener before waking waiting requests, so that a request
	// woken by Down finds the connections going.
	var err error
	switch {
	case in.closed:
		err = ErrClosed
	case in.addr == "":
	case f.Down && in.srv != nil:
		in.stopLocked()
	case !f.Down && in.srv == nil:
		err = in.listenLocked()
	}
	close(old.changed)
	if !old.f.IsZero() || !f.IsZero() {
		in.c.log.Info("regsim: instance fault", "instance", in.index, "fault", f.String())
	}
	return err
}

// stopLocked closes the listener and the server. The listener first, here:
// srv.Close closes only the listeners Serve has begun with, and Serve runs
// on a goroutine of its own; until it closes ln, the kernel completes the
// handshakes of new connections and then resets them, so that a stopped
// instance would answer "reset" where it must answer "refused". The caller
// holds in.mu.
func (in *Instance) stopLocked() error {
	_ = in.ln.Close()
	err := in.srv.Close()
	in.srv, in.ln = nil, nil
	if errors.Is(err, net.ErrClosed) {
		return nil // ln, closed above
	}
	return err
}

// listenLocked listens on in.addr and serves on a new http.Server. The
// caller holds in.mu.
func (in *Instance) listenLocked() error {
	ln, err := net.Listen("tcp", in.addr)
	if err != nil {
		return err
	}
	in.serveLocked(ln)
	return nil
}

// serveLocked serves ln until the server is closed. The caller holds in.mu.
func (in *Instance) serveLocked(ln net.Listener) {
	srv := in.c.newServer(in, func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			in.open.Add(1)
			in.c.ctr.connOpened()
		case http.StateHijacked, http.StateClosed:
			in.open.Add(-1)
			in.c.ctr.connClosed()
		}
	})
	in.srv = srv
	in.ln = ln
	in.c.serving.Add(1)
	go func() {
		defer in.c.serving.Done()
		_ = srv.Serve(ln) // returns when the server is closed
	}()
}

// closeServer stops serving for good (Cluster.Close).
func (in *Instance) closeServer() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	if in.srv == nil {
		return nil
	}
	return in.stopLocked()
}

// ServeHTTP answers one request as the instance would, faults included.
func (in *Instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in.serve(r, &httpSink{w: w})
}

// Pre-built header values, shared read-only by every response.
var (
	hdrXML  = []string{wire.ContentType}
	hdrText = []string{"text/plain; charset=utf-8"}
)

// response is a complete reply, written by a sink.
type response struct {
	status     int
	ctype      []string
	retryAfter string
	allow      string
	body       []byte
}

// sink is where an instance writes its answer: an http.ResponseWriter, or
// the in-memory transport.
type sink interface {
	// reply writes r.
	reply(in *Instance, r *response)
	// reset writes the status line, the headers and part of r's body, then
	// closes the connection.
	reset(in *Instance, r *response)
	// drop closes the connection without an answer.
	drop()
}

func textResponse(status int, msg string) *response {
	return &response{status: status, ctype: hdrText, body: []byte(msg + "\n")}
}

func (in *Instance) serve(r *http.Request, sk sink) {
	c := in.c
	if !c.enter() {
		sk.drop()
		return
	}
	defer c.leave()
	switch r.URL.Path {
	case wire.APIPath:
		in.requests.Add(1)
		c.ctr.request()
		if r.Method != http.MethodPost {
			c.ctr.reply(class4xx)
			resp := textResponse(http.StatusMethodNotAllowed, "method not allowed")
			resp.allow = http.MethodPost
			sk.reply(in, resp)
			return
		}
		in.api(r, sk)
	case wire.HealthPath:
		c.ctr.health.Add(1)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			resp := textResponse(http.StatusMethodNotAllowed, "method not allowed")
			resp.allow = "GET, HEAD"
			sk.reply(in, resp)
			return
		}
		in.health(r, sk)
	default:
		c.ctr.reply(class4xx)
		sk.reply(in, textResponse(http.StatusNotFound, "not found"))
	}
}

// gate applies the instance's faults to one request. It returns false when
// the request was answered or dropped; otherwise the request is to be served,
// and reset says whether its reply is to be cut. api says whether the request
// is an API call, whose outcome Counters.Replies counts (health checks are
// not counted there).
func (in *Instance) gate(r *http.Request, sk sink, api bool) (serve, reset bool) {
	c := in.c
	count := func(cl replyClass) {
		if api {
			c.ctr.reply(cl)
		}
	}
	hung, delayed := false, false
	for {
		st := in.fault.Load()
		f := st.f
		switch {
		case f.Down:
			count(classReset)
			sk.drop()
			return false, false
		case f.Hang:
			if !hung {
				hung = true
				count(classHang)
			}
			if !in.wait(r, st, nil) {
				sk.drop()
				return false, false
			}
			continue
		case !delayed && (f.Latency > 0 || f.Jitter > 0):
			delayed = true
			d := f.Latency
			if f.Jitter > 0 {
				d += rand.N(f.Jitter)
			}
			t := time.NewTimer(d)
			ok := in.wait(r, st, t.C)
			t.Stop()
			if !ok {
				sk.drop()
				return false, false
			}
			continue
		case f.Unavailable:
			count(class503)
			resp := textResponse(http.StatusServiceUnavailable, "service unavailable")
			if f.RetryAfter > 0 {
				resp.retryAfter = strconv.FormatInt(int64((f.RetryAfter+time.Second-1)/time.Second), 10)
			}
			sk.reply(in, resp)
			return false, false
		case f.ErrorRate > 0 && rand.Float64() < f.ErrorRate:
			count(class5xx)
			sk.reply(in, textResponse(http.StatusInternalServerError, "internal server error"))
			return false, false
		}
		return true, f.Reset
	}
}

// wait blocks until the fault setting st is replaced or timer fires (true),
// or until the request's context ends or the cluster closes (false).
func (in *Instance) wait(r *http.Request, st *faultState, timer <-chan time.Time) bool {
	in.c.stalled.add(1)
	defer in.c.stalled.add(-1)
	select {
	case <-st.changed:
		return true
	case <-timer:
		return true
	case <-r.Context().Done():
		return false
	case <-in.c.closing:
		return false
	}
}

func (in *Instance) health(r *http.Request, sk sink) {
	serve, reset := in.gate(r, sk, false)
	if !serve {
		return
	}
	resp := textResponse(http.StatusOK, "ok")
	if in.c.store.dbDown.Load() {
		resp = textResponse(http.StatusServiceUnavailable, "database unavailable")
	}
	if reset {
		sk.reset(in, resp)
		return
	}
	sk.reply(in, resp)
}

// Buffers for request and reply bodies.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuf = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// errBodyTooLarge reports a request body over wire.MaxBodySize.
var errBodyTooLarge = errors.New("regsim: request body too large")

// readBody appends r's content to buf, reading at most one byte more than
// wire.MaxBodySize.
func readBody(r io.Reader, buf []byte) ([]byte, error) {
	if r == nil {
		return buf, nil
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > wire.MaxBodySize {
			return buf, errBodyTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (in *Instance) api(r *http.Request, sk sink) {
	c := in.c
	if r.ContentLength > wire.MaxBodySize {
		c.ctr.command(cmdInvalid)
		c.ctr.reply(class4xx)
		sk.reply(in, textResponse(http.StatusRequestEntityTooLarge, "request body over 1 MiB"))
		return
	}
	inBuf := getBuf()
	defer putBuf(inBuf)
	body, err := readBody(r.Body, *inBuf)
	*inBuf = body[:0]
	switch {
	case errors.Is(err, errBodyTooLarge):
		c.ctr.command(cmdInvalid)
		c.ctr.reply(class4xx)
		sk.reply(in, textResponse(http.StatusRequestEntityTooLarge, "request body over 1 MiB"))
		return
	case err != nil:
		// The client went away while sending.
		sk.drop()
		return
	}

	serve, reset := in.gate(r, sk, true)
	if !serve {
		return
	}

	outBuf := getBuf()
	defer putBuf(outBuf)
	out, status, oc := in.exec(r, body, (*outBuf)[:0])
	*outBuf = out[:0]
	resp := &response{status: status, ctype: hdrXML, body: out}
	if status != http.StatusOK {
		resp.ctype = hdrText
	}
	// One outcome per request, counted before the client can see it: a cut
	// reply is a reset, whatever it held.
	if reset {
		c.ctr.reply(classReset)
		sk.reset(in, resp)
		return
	}
	c.ctr.outcome(oc)
	sk.reply(in, resp)
}

// outcome is the reply class of an executed request, and the exception code
// when the class is classException.
type outcome struct {
	class replyClass
	code  int
}

// exec decodes and applies a request body, appending the reply to dst. It
// counts the command and returns the reply's outcome for the caller to count.
func (in *Instance) exec(r *http.Request, body, dst []byte) ([]byte, int, outcome) {
	c := in.c
	req, err := wire.DecodeRequest(body)
	if err != nil && !errors.Is(err, wire.ErrMissingCommand) {
		c.ctr.command(cmdInvalid)
		return append(dst, "bad request: body is not a <teamdrive> request document\n"...), http.StatusBadRequest, outcome{class: class4xx}
	}
	var e *wire.Exception
	switch {
	case c.salt != "" && !wire.VerifyChecksum(body, c.salt, r.URL.Query().Get(wire.ChecksumParam)):
		if req != nil {
			c.ctr.command(commandIndex(req.Command))
		} else {
			c.ctr.command(cmdInvalid)
		}
		e = excChecksum
	case err != nil: // missing command
		c.ctr.command(cmdInvalid)
		e = excMissingCommand
	default:
		c.ctr.command(commandIndex(req.Command))
		var out []byte
		out, e, _ = c.store.exec(dst, req)
		if e == nil {
			return out, http.StatusOK, outcome{class: classOK}
		}
	}
	out, err := wire.AppendReply(dst, &wire.Reply{Exception: e})
	if err != nil {
		// An exception of fixed, short fields always encodes.
		return append(dst, "internal error\n"...), http.StatusInternalServerError, outcome{class: class5xx}
	}
	return out, http.StatusOK, outcome{class: classException, code: e.PrimaryCode}
}
