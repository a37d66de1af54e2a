package regsim

import (
	"net/http"
	"strconv"
	"time"
)

// httpSink writes to an http.ResponseWriter. With a writer that can be
// hijacked (HTTP/1 servers) reset and drop close the real connection; with
// one that cannot (httptest.ResponseRecorder, say) reset writes a body
// shorter than its Content-Length and drop answers 503.
type httpSink struct {
	w http.ResponseWriter
}

func (s *httpSink) header(in *Instance, r *response, length int) {
	h := s.w.Header()
	h["Content-Type"] = r.ctype
	h["Content-Length"] = []string{strconv.Itoa(length)}
	h[InstanceHeader] = in.hdrID
	if r.retryAfter != "" {
		h["Retry-After"] = []string{r.retryAfter}
	}
	if r.allow != "" {
		h["Allow"] = []string{r.allow}
	}
}

func (s *httpSink) reply(in *Instance, r *response) {
	s.header(in, r, len(r.body))
	s.w.WriteHeader(r.status)
	_, _ = s.w.Write(r.body) // a write error means the client is gone
}

// resetWriteTimeout bounds the write of a partial reply to a client that
// does not read.
const resetWriteTimeout = 5 * time.Second

func (s *httpSink) reset(in *Instance, r *response) {
	half := r.body[:len(r.body)/2]
	hj, ok := s.w.(http.Hijacker)
	if !ok {
		s.header(in, r, len(r.body))
		s.w.WriteHeader(r.status)
		_, _ = s.w.Write(half)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	raw := make([]byte, 0, 256+len(half))
	raw = append(raw, "HTTP/1.1 "...)
	raw = strconv.AppendInt(raw, int64(r.status), 10)
	raw = append(raw, ' ')
	raw = append(raw, http.StatusText(r.status)...)
	raw = append(raw, "\r\nContent-Type: "...)
	raw = append(raw, r.ctype[0]...)
	raw = append(raw, "\r\nContent-Length: "...)
	raw = strconv.AppendInt(raw, int64(len(r.body)), 10)
	raw = append(raw, "\r\n"+InstanceHeader+": "...)
	raw = append(raw, in.hdrID[0]...)
	raw = append(raw, "\r\n\r\n"...)
	raw = append(raw, half...)
	_ = conn.SetWriteDeadline(time.Now().Add(resetWriteTimeout))
	_, _ = conn.Write(raw) // the connection is closed next either way
	_ = conn.Close()
}

func (s *httpSink) drop() {
	if hj, ok := s.w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
		return
	}
	http.Error(s.w, "connection dropped", http.StatusServiceUnavailable)
}
