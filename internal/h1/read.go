package h1

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
)

// maxChunkLine bounds a chunk-size line, as net/http does.
const maxChunkLine = 4 << 10

// reply is a parsed reply: the Response, its body and the backing array
// of its header values, allocated together.
type reply struct {
	resp http.Response
	body body
	vals [8]string
	nval int
}

// bodyState is where a reply body is.
type bodyState uint8

const (
	bodyFixed    bodyState = iota // Content-Length bytes left
	bodyChunked                   // chunked transfer coding
	bodyUntilEOF                  // delimited by the connection's close
	bodyDone                      // read to its end
	bodyFailed                    // an error ended it
	bodyClosed                    // closed before its end
)

// readResponse reads a reply's status line and header from br (skipping
// 1xx informational replies) and returns it with its body ready to read
// from br. method is the request's, for HEAD; maxBody caps the body.
func readResponse(br *bufio.Reader, method string, maxBody int64) (*reply, error) {
	rep := &reply{}
	resp := &rep.resp
	for {
		budget := maxHeaderBytes
		line, err := readLine(br, &budget, true)
		if err != nil {
			return nil, err
		}
		if err := parseStatusLine(resp, line); err != nil {
			return nil, err
		}
		h := make(http.Header, 4)
		if err := rep.readHeader(br, h, &budget); err != nil {
			return nil, err
		}
		resp.Header = h
		if c := resp.StatusCode; c >= 100 && c < 200 && c != http.StatusSwitchingProtocols {
			rep.nval = 0
			continue // 100 Continue, 103 Early Hints: the reply follows
		}
		break
	}
	if err := rep.framing(method, maxBody); err != nil {
		return nil, err
	}
	rep.body.br = br
	rep.body.resp = resp
	rep.body.max = maxBody
	resp.Body = &rep.body
	return rep, nil
}

// readLine returns the next line of br without its CRLF (or bare LF),
// counting it against budget. The line is valid until the next read. A
// last line cut by the end of the stream is io.ErrUnexpectedEOF, or with
// partial the line itself, as net/http's textproto reads a header: the
// next read is then io.EOF.
func readLine(br *bufio.Reader, budget *int, partial bool) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(long) <= *budget {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	*budget -= len(line)
	if *budget < 0 {
		return nil, fmt.Errorf("%w: header over %d bytes", ErrMalformedReply, maxHeaderBytes)
	}
	switch {
	case err == nil:
		line = line[:len(line)-1]
	case err != io.EOF || len(line) == 0:
		return nil, err
	case !partial:
		return nil, io.ErrUnexpectedEOF
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseStatusLine parses "HTTP/1.x NNN reason" into resp.
func parseStatusLine(resp *http.Response, line []byte) error {
	switch {
	case bytes.HasPrefix(line, []byte("HTTP/1.1 ")):
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	case bytes.HasPrefix(line, []byte("HTTP/1.0 ")):
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.0", 1, 0
	default:
		return malformed("status line", line)
	}
	status := bytes.TrimLeft(line[9:], " ")
	if len(status) < 3 || len(status) > 3 && status[3] != ' ' {
		return malformed("status code", line)
	}
	code := 0
	for _, c := range status[:3] {
		if c < '0' || c > '9' {
			return malformed("status code", line)
		}
		code = code*10 + int(c-'0')
	}
	resp.StatusCode = code
	switch string(status) { // no allocation: the common ones are constants
	case "200 OK":
		resp.Status = "200 OK"
	case "204 No Content":
		resp.Status = "204 No Content"
	default:
		resp.Status = string(status)
	}
	return nil
}

// malformed returns an ErrMalformedReply quoting (the start of) what was
// wrong.
func malformed(what string, b []byte) error {
	const most = 64
	if len(b) > most {
		b = b[:most]
	}
	return fmt.Errorf("%w: bad %s %q", ErrMalformedReply, what, b)
}

// readHeader reads header fields into h up to the empty line.
func (rep *reply) readHeader(br *bufio.Reader, h http.Header, budget *int) error {
	for {
		line, err := readLine(br, budget, true)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) == 0 {
			return nil
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return malformed("header line", line)
		}
		name := line[:i]
		for _, c := range name {
			if !isTokenByte(c) {
				return malformed("header name", line)
			}
		}
		value := bytes.Trim(line[i+1:], " \t")
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return malformed("header value", line)
			}
		}
		key := canonicalKey(name)
		var v string
		switch {
		case len(value) == 0:
			v = ""
		case key == "Connection" && string(value) == "close":
			v = "close"
		case key == "Connection" && string(value) == "keep-alive":
			v = "keep-alive"
		case key == "Transfer-Encoding" && string(value) == "chunked":
			v = "chunked"
		default:
			v = string(value)
		}
		if vs, ok := h[key]; ok {
			h[key] = append(vs, v)
		} else if rep.nval < len(rep.vals) {
			rep.vals[rep.nval] = v
			h[key] = rep.vals[rep.nval : rep.nval+1 : rep.nval+1]
			rep.nval++
		} else {
			h[key] = []string{v}
		}
	}
}

// commonKeys are header names returned without an allocation.
var commonKeys = [...]string{
	"Content-Type", "Content-Length", "Date", "Connection", "Server",
	"Transfer-Encoding", "Keep-Alive", "Retry-After", "Trailer",
	"Cache-Control", "Content-Encoding", "X-Regsim-Instance", "Vary",
}

// canonicalKey returns the canonical form of a header name.
func canonicalKey(name []byte) string {
	for _, k := range commonKeys {
		if len(k) == len(name) && bytes.EqualFold(name, []byte(k)) {
			return k
		}
	}
	return textproto.CanonicalMIMEHeaderKey(string(name))
}

// framing decides, as net/http does, how the body is delimited and whether
// the connection stays open, and checks the cap.
func (rep *reply) framing(method string, maxBody int64) error {
	resp, h, b := &rep.resp, rep.resp.Header, &rep.body
	chunked := false
	if te, ok := h["Transfer-Encoding"]; ok {
		delete(h, "Transfer-Encoding")
		if resp.ProtoMinor >= 1 { // HTTP/1.0 ignores it
			if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
				return fmt.Errorf("%w: unsupported transfer encoding %q", ErrMalformedReply, te)
			}
			chunked = true
			resp.TransferEncoding = []string{"chunked"}
		}
	}
	cls := h["Content-Length"]
	if len(cls) > 1 {
		first := strings.TrimSpace(cls[0])
		for _, v := range cls[1:] {
			if strings.TrimSpace(v) != first {
				return fmt.Errorf("%w: multiple Content-Length headers %q", ErrMalformedReply, cls)
			}
		}
		h["Content-Length"] = cls[:1]
	}
	conn := h["Connection"]
	if resp.ProtoMinor == 0 {
		resp.Close = !headerHasToken(conn, "keep-alive")
	} else {
		resp.Close = headerHasToken(conn, "close")
	}
	code := resp.StatusCode
	noBody := method == http.MethodHead || code/100 == 1 || code == http.StatusNoContent || code == http.StatusNotModified
	switch {
	case noBody:
		resp.ContentLength = 0
		if method == http.MethodHead {
			resp.ContentLength = -1
			if len(cls) > 0 {
				n, ok := parseLength(cls[0])
				if !ok {
					return fmt.Errorf("%w: bad Content-Length %q", ErrMalformedReply, cls[0])
				}
				resp.ContentLength = n
			}
		}
		b.state = bodyDone
	case chunked:
		delete(h, "Content-Length")
		resp.ContentLength = -1
		b.state = bodyChunked
		if tr, ok := h["Trailer"]; ok {
			delete(h, "Trailer")
			resp.Trailer = make(http.Header, 1)
			for _, v := range tr {
				for _, k := range strings.Split(v, ",") {
					if k = strings.TrimSpace(k); k != "" {
						resp.Trailer[textproto.CanonicalMIMEHeaderKey(k)] = nil
					}
				}
			}
		}
	case len(cls) > 0:
		n, ok := parseLength(cls[0])
		if !ok {
			return fmt.Errorf("%w: bad Content-Length %q", ErrMalformedReply, cls[0])
		}
		if n > maxBody {
			return tooLarge(maxBody, fmt.Sprintf("Content-Length %d", n))
		}
		resp.ContentLength = n
		b.left = n
		b.state = bodyFixed
		if n == 0 {
			b.state = bodyDone
		}
	default:
		resp.ContentLength = -1
		resp.Close = true
		b.state = bodyUntilEOF
	}
	return nil
}

func tooLarge(limit int64, what string) error {
	return fmt.Errorf("%w: %s over the %d-byte cap (MaxReplyBytes)", ErrReplyTooLarge, what, limit)
}

// parseLength parses a Content-Length value: decimal digits only.
func parseLength(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func headerHasToken(vs []string, token string) bool {
	for _, v := range vs {
		if hasToken(v, token) {
			return true
		}
	}
	return false
}

// body is a reply body read from its connection's bufio.Reader on the
// caller's goroutine. At its end it gives the connection back to the pool
// (or closes it); Close before the end closes the connection.
type body struct {
	br    *bufio.Reader
	resp  *http.Response // for its Trailer
	state bodyState
	left  int64 // bytes left in the fixed body or the current chunk
	n     int64 // bytes of the body read
	max   int64
	crlf  bool // the CRLF after a chunk's data is due
	err   error

	// Set by conn.roundTrip; nil c: no connection (the parser alone).
	c    *conn
	ctx  context.Context
	stop func() bool
	keep bool
}

// Read reads the body.
func (b *body) Read(p []byte) (int, error) {
	switch b.state {
	case bodyDone:
		return 0, io.EOF
	case bodyClosed:
		return 0, ErrBodyClosed
	case bodyFailed:
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	switch b.state {
	case bodyFixed:
		n, err = b.readFixed(p)
	case bodyChunked:
		n, err = b.readChunked(p)
	default:
		n, err = b.readUntilEOF(p)
	}
	switch {
	case err == io.EOF:
		b.state = bodyDone
		b.finish(true)
	case err != nil:
		if b.ctx != nil {
			if cerr := ctxErr(b.ctx, err); cerr != nil {
				err = cerr
			}
		}
		b.state, b.err = bodyFailed, err
		b.finish(false)
	}
	return n, err
}

// Close closes the body; before its end, it closes the connection too.
func (b *body) Close() error {
	if b.state != bodyDone && b.state != bodyFailed {
		b.state = bodyClosed
	}
	b.finish(false)
	return nil
}

// finish gives the connection back (ok: the body was read to its end) or
// closes it. Idempotent.
func (b *body) finish(ok bool) {
	c := b.c
	if c == nil {
		return
	}
	b.c, b.br = nil, nil
	if ok {
		c.done(b.keep, b.stop)
		return
	}
	b.stop()
	c.close()
}

func (b *body) readFixed(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	b.n += int64(n)
	if b.left == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *body) readUntilEOF(p []byte) (int, error) {
	n, err := b.br.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		return n, tooLarge(b.max, "body")
	}
	return n, err
}

func (b *body) readChunked(p []byte) (int, error) {
	for b.left == 0 {
		if b.crlf {
			crlf, err := b.br.Peek(2)
			if err != nil {
				return 0, unexpected(err)
			}
			if crlf[0] != '\r' || crlf[1] != '\n' {
				return 0, fmt.Errorf("%w: malformed chunked encoding", ErrMalformedReply)
			}
			_, _ = b.br.Discard(2)
			b.crlf = false
		}
		budget := maxChunkLine
		line, err := readLine(b.br, &budget, false)
		if err != nil {
			return 0, unexpected(err)
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return 0, err
		}
		if size == 0 {
			return 0, b.readTrailer()
		}
		if size > b.max-b.n {
			return 0, tooLarge(b.max, "chunked body")
		}
		b.left = size
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	b.n += int64(n)
	if b.left == 0 {
		b.crlf = true
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// readTrailer reads the trailer after the last chunk into resp.Trailer and
// returns io.EOF.
func (b *body) readTrailer() error {
	var rep reply
	h := make(http.Header)
	budget := maxHeaderBytes
	if err := rep.readHeader(b.br, h, &budget); err != nil {
		return unexpected(err)
	}
	if len(h) > 0 {
		if b.resp.Trailer == nil {
			b.resp.Trailer = make(http.Header, len(h))
		}
		for k, vs := range h {
			b.resp.Trailer[k] = append(b.resp.Trailer[k], vs...)
		}
	}
	return io.EOF
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseChunkSize parses a chunk-size line: hex digits, then optional
// whitespace and extensions.
func parseChunkSize(line []byte) (int64, error) {
	line = bytes.TrimRight(line, " \t")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || len(line) > 15 {
		return 0, malformed("chunk size", line)
	}
	var n int64
	for _, c := range line {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, malformed("chunk size", line)
		}
		n = n<<4 | int64(c)
	}
	return n, nil
}
