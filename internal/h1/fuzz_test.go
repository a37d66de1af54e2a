package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// FuzzReadResponse feeds arbitrary bytes to the reply parser and reads the
// body: no panic, never more than the cap, a Content-Length body of exactly
// its length; and where net/http's parser also accepts the reply and reads
// its body, the same status and body.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfff;ext\r\nx\r\n",
		"garbage\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	const limit = 4 << 10
	f.Fuzz(func(t *testing.T, in []byte) {
		rep, err := readResponse(bufio.NewReaderSize(bytes.NewReader(in), 16), http.MethodGet, limit)
		if err != nil {
			return
		}
		resp := &rep.resp
		if resp.StatusCode < 0 || resp.StatusCode > 999 || resp.StatusCode/100 == 1 && resp.StatusCode != 101 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		body, berr := io.ReadAll(resp.Body)
		if len(body) > limit {
			t.Fatalf("read %d bytes past the cap %d", len(body), limit)
		}
		if berr == nil && resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
			t.Fatalf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
		}
		if _, err := resp.Body.Read(make([]byte, 1)); berr == nil && err != io.EOF {
			t.Fatalf("read after EOF: %v", err)
		}
		nresp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), &http.Request{Method: http.MethodGet})
		if err != nil || nresp.StatusCode/100 == 1 {
			return // net/http's ReadResponse leaves 1xx to its transport
		}
		nbody, nerr := io.ReadAll(io.LimitReader(nresp.Body, limit+1))
		if berr != nil || nerr != nil || len(nbody) > limit {
			return
		}
		if nresp.StatusCode != resp.StatusCode || !bytes.Equal(nbody, body) {
			t.Fatalf("net/http: status %d, body %q; lean: status %d, body %q", nresp.StatusCode, nbody, resp.StatusCode, body)
		}
	})
}
