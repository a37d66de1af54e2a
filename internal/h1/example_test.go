package h1_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/regfleet/regfleet/internal/h1"
)

// A Transport serves as an http.Client's transport: the request is written
// and the reply read on the calling goroutine, and the connection waits
// idle, without a goroutine or a buffer, for the next request.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	}))
	defer srv.Close()

	tr := &h1.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for _, path := range []string{"/a", "/b"} {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp, err := hc.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, err := io.ReadAll(resp.Body) // to its end: the connection goes back to the pool
		resp.Body.Close()
		fmt.Println(resp.Status, string(body), err)
	}
	// Output:
	// 200 OK GET /a <nil>
	// 200 OK GET /b <nil>
}
