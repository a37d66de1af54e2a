package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestErrorTexts checks that each error says each thing once: the command
// once, each endpoint once, each cause after its endpoint.
func TestErrorTexts(t *testing.T) {
	refused := fmt.Errorf("dial tcp 10.0.0.2:80: connect: %w", syscall.ECONNREFUSED)
	http503 := &HTTPError{StatusCode: 503, Command: "sendinvitation", Endpoint: "http://a", RetryAfter: 5 * time.Second}
	dbDown := &ServerError{Primary: -12507, Secondary: "2003", Message: "Can't connect to MySQL server", Command: "getsettings", Endpoint: "http://a"}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"HTTP status alone", &HTTPError{StatusCode: 404, Command: "loginuser", Endpoint: "https://reg.example.com/x"},
			"client: loginuser: HTTP 404 from https://reg.example.com/x"},
		{"exception alone", &ServerError{Primary: -30101, Message: "Wrong password", Command: "loginuser", Endpoint: "http://a"},
			"client: loginuser: server exception -30101: Wrong password from http://a"},
		{"exception alone, no endpoint", &ServerError{Primary: -30200, Command: "loginuser"},
			"client: loginuser: server exception -30200"},
		{"HTTP status and a refusal", &CallError{Command: "sendinvitation", Attempts: 2, Endpoints: []string{"http://a", "http://b"},
			Err: errors.Join(&AttemptError{Endpoint: "http://a", Err: http503}, &AttemptError{Endpoint: "http://b", Err: refused})},
			"client: sendinvitation failed after 2 attempts: http://a: HTTP 503 (retry after 5s); http://b: dial tcp 10.0.0.2:80: connect: connection refused"},
		{"exception on one attempt", &CallError{Command: "getsettings", Attempts: 1, Endpoints: []string{"http://a"},
			Err: errors.Join(&AttemptError{Endpoint: "http://a", Err: dbDown})},
			"client: getsettings failed after 1 attempt: http://a: server exception -12507 (2003): Can't connect to MySQL server"},
		{"budget", &CallError{Command: "getsettings", Attempts: 1, Endpoints: []string{"http://a"},
			Err: errors.Join(&AttemptError{Endpoint: "http://a", Err: refused}, ErrRetryBudget)},
			"client: getsettings failed after 1 attempt: http://a: dial tcp 10.0.0.2:80: connect: connection refused; retry budget exhausted"},
		{"canceled during the second attempt", &CallError{Command: "getsettings", Attempts: 2, Endpoints: []string{"http://a", "http://b"},
			Err: errors.Join(&AttemptError{Endpoint: "http://a", Err: refused}, context.Canceled)},
			"client: getsettings failed after 2 attempts on http://b: http://a: dial tcp 10.0.0.2:80: connect: connection refused; context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestCallErrorText checks the text of a real call that failed on two
// endpoints: one answers 503, the other refuses connections.
func TestCallErrorText(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := "http://" + ln.Addr().String()
	ln.Close()
	c := newClient(t, Config{URLs: []string{srv.URL, refusing}, Session: "s", RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
	_, err = c.GetSettings(context.Background())
	var ce *CallError
	if !errors.As(err, &ce) || len(ce.Endpoints) != 2 {
		t.Fatalf("got %v, want a *CallError over two endpoints", err)
	}
	cause := map[string]string{
		srv.URL:  "HTTP 503",
		refusing: "dial tcp " + ln.Addr().String() + ": connect: connection refused",
	}
	want := "client: getsettings failed after 2 attempts: " +
		ce.Endpoints[0] + ": " + cause[ce.Endpoints[0]] + "; " + ce.Endpoints[1] + ": " + cause[ce.Endpoints[1]]
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	var he *HTTPError
	if !errors.As(err, &he) || he.Endpoint != srv.URL || he.Command != "getsettings" {
		t.Errorf("errors.As *HTTPError: %+v, want one naming %s and getsettings", he, srv.URL)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%v does not match syscall.ECONNREFUSED", err)
	}
}

// echoServer answers every request with its own request line as a
// malformed HTTP reply, and returns its URL and the request lines seen.
func echoServer(t *testing.T) (string, func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(conn).ReadString('\n')
			mu.Lock()
			lines = append(lines, strings.TrimSpace(line))
			mu.Unlock()
			io.WriteString(conn, line+"\r\n")
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
}

// TestChecksumNotInErrors checks that a checksum a broken endpoint echoes
// into net/http's error reaches neither the error's text (at any depth of
// its chain) nor the log.
func TestChecksumNotInErrors(t *testing.T) {
	url, lines := echoServer(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, Config{URLs: []string{url}, Session: "s", Salt: "pepper", Logger: logger,
		MaxAttempts: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
	_, err := c.GetSettings(context.Background())
	if err == nil {
		t.Fatal("a call to an echoing server succeeded")
	}
	if !strings.Contains(err.Error(), "malformed HTTP") {
		t.Fatalf("got %v, want net/http's malformed HTTP reply error (the test's premise)", err)
	}
	seen := lines()
	if len(seen) == 0 {
		t.Fatal("the server saw no request")
	}
	sums := regexp.MustCompile(`checksum=([0-9a-f]{32})`).FindStringSubmatch(seen[0])
	if sums == nil {
		t.Fatalf("request line %q carries no checksum", seen[0])
	}
	sum := sums[1]
	for depth, e := range chain(err) {
		if strings.Contains(e.Error(), sum) {
			t.Errorf("error at depth %d (%T) carries the checksum: %s", depth, e, e)
		}
	}
	if strings.Contains(logs.String(), sum) {
		t.Errorf("the log carries the checksum:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "malformed HTTP") {
		t.Errorf("the log does not say what failed:\n%s", logs.String())
	}
}

// chain returns err and every error below it (Unwrap, both kinds).
func chain(err error) []error {
	var all []error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		all = append(all, e)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return all
}

// TestScrubText checks the forms a checksum may take in a text.
func TestScrubText(t *testing.T) {
	const sum = "0123456789abcdef0123456789ABCDEF"
	cases := []struct{ in, want string }{
		{`malformed HTTP response "POST /pbas/td2as/api/api.htm?checksum=` + sum + ` HTTP/1.1"`,
			`malformed HTTP response "POST /pbas/td2as/api/api.htm?checksum=REDACTED HTTP/1.1"`},
		{"GET /x?a=1&checksum=abc&b=2", "GET /x?a=1&checksum=REDACTED&b=2"},
		{"url /x%3Fchecksum%3D" + sum, "url /x%3Fchecksum=REDACTED"},
		{"bad checksum " + sum + ".", "bad checksum REDACTED."},
		{"dial tcp 127.0.0.1:1: connect: connection refused", "dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	for _, tc := range cases {
		if got := scrubText(tc.in); got != tc.want {
			t.Errorf("scrubText(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
	err := redactErr(fmt.Errorf("read: checksum=%s: %w", sum, syscall.ECONNRESET))
	if strings.Contains(err.Error(), sum) || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("redactErr: %v, want the checksum gone and ECONNRESET kept", err)
	}
}

// TestNoDeviceSaysWhatToDo checks that polling without a device id fails
// with an error that names the fix.
func TestNoDeviceSaysWhatToDo(t *testing.T) {
	c := newClient(t, Config{URLs: []string{"https://reg.example.com"}, Session: "s"})
	err := c.StartPolling(context.Background(), func(context.Context, Message) {})
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("StartPolling without a device: %v, want ErrNoDevice", err)
	}
	if want := "client: no device id: call RegisterDevice or set Config.DeviceID first"; err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}
