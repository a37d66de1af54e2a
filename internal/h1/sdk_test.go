package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/regsim"
)

// sdkClass is what the SDK makes of a call: its error's type, and for a
// call no endpoint could serve, the class of each attempt's cause.
func sdkClass(err error) string {
	var se *client.ServerError
	var he *client.HTTPError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &se) && !errors.Is(err, client.ErrUnavailable):
		return fmt.Sprintf("exception %d", se.Primary)
	case errors.As(err, &he) && !errors.Is(err, client.ErrUnavailable):
		return fmt.Sprintf("HTTP %d", he.StatusCode)
	case !errors.Is(err, client.ErrUnavailable):
		return "other: " + errClass(err)
	}
	var causes []string
	var walk func(error)
	walk = func(e error) {
		var ae *client.AttemptError
		if errors.As(e, &ae) && e == error(ae) {
			causes = append(causes, attemptClass(ae.Err))
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		} else if u := errors.Unwrap(e); u != nil {
			walk(u)
		}
	}
	walk(err)
	return "unavailable [" + strings.Join(causes, ", ") + "]"
}

func attemptClass(err error) string {
	var te *client.TimeoutError
	var he *client.HTTPError
	var se *client.ServerError
	switch {
	case errors.As(err, &te):
		return "attempt timeout"
	case errors.As(err, &he):
		return fmt.Sprintf("HTTP %d", he.StatusCode)
	case errors.As(err, &se):
		return fmt.Sprintf("exception %d", se.Primary)
	case errors.Is(err, ErrReplyTooLarge):
		// The SDK says ErrNotRegistrationServer of a reply net/http
		// delivered over its cap; the lean transport refuses it first.
		return "not a Registration Server"
	case errors.Is(err, client.ErrNotRegistrationServer):
		return "not a Registration Server"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	return errClass(err)
}

// teamdrive returns an encoded result reply.
func teamdrive(t testing.TB, r *wire.Reply) string {
	t.Helper()
	b, err := wire.EncodeReply(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSDKOutcomes makes the same SDK calls through net/http and the lean
// transport against servers with the same fault, and wants the same
// outcome class from the SDK (its error types, and each attempt's cause as
// the SDK and the load generator classify it) and the same light.
func TestSDKOutcomes(t *testing.T) {
	result := teamdrive(t, &wire.Reply{Fields: []wire.Field{{Name: "ok"}}})
	exception := teamdrive(t, &wire.Reply{Exception: &wire.Exception{PrimaryCode: -30100, Message: "unknown user"}})
	chunk := func(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }
	cases := []struct {
		name     string
		serve    script
		calls    int
		attempt  time.Duration // AttemptTimeout; 0: 5 s
		deadline time.Duration // the call's; 0: 10 s
		want     string        // of the last call
	}{
		{name: "result", calls: 3, want: "ok", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return answer(c, "200 OK", result, "Content-Type: text/xml")
		}},
		{name: "chunked result", calls: 2, want: "ok", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			half := len(result) / 2
			_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+chunk(result[:half])+chunk(result[half:])+"0\r\nX-T: 1\r\n\r\n")
			return err == nil
		}},
		{name: "exception", calls: 1, want: "exception -30100", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return answer(c, "200 OK", exception)
		}},
		{name: "503 with Retry-After", calls: 1, want: "unavailable [HTTP 503]", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return answer(c, "503 Service Unavailable", "busy", "Retry-After: 1")
		}},
		{name: "proxy page", calls: 1, want: "unavailable [not a Registration Server]", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return answer(c, "403 Forbidden", "<html>blocked</html>", "Content-Type: text/html")
		}},
		{name: "oversize", calls: 1, want: "unavailable [not a Registration Server]", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return answer(c, "200 OK", result+strings.Repeat(" ", capBytes))
		}},
		{name: "garbage status line", calls: 1, want: "unavailable [other]", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, "ICY 200 OK\r\n\r\n")
			return false
		}},
		{name: "early close", calls: 1, want: "unavailable [reset]", serve: func(net.Conn, *http.Request, int) bool { return false }},
		{name: "truncated body", calls: 1, want: "unavailable [reset]", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			_, _ = io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(result), result[:10]))
			return false
		}},
		{name: "Connection: close mid-stream", calls: 4, want: "ok", serve: func(c net.Conn, _ *http.Request, nth int) bool {
			if nth == 1 {
				answer(c, "200 OK", result, "Connection: close")
				return false
			}
			return answer(c, "200 OK", result)
		}},
		{name: "never answers: attempt timeout", calls: 1, attempt: 100 * time.Millisecond, want: "unavailable [attempt timeout]",
			serve: func(c net.Conn, _ *http.Request, _ int) bool {
				_, _ = io.Copy(io.Discard, c)
				return false
			}},
		{name: "never answers: caller's deadline", calls: 1, deadline: 100 * time.Millisecond, want: "unavailable [deadline]",
			serve: func(c net.Conn, _ *http.Request, _ int) bool {
				_, _ = io.Copy(io.Discard, c)
				return false
			}},
		{name: "slow drip within the attempt", calls: 2, want: "ok", serve: func(c net.Conn, _ *http.Request, _ int) bool {
			return drip(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(result), result), 100*time.Microsecond)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			lights := map[string]client.State{}
			for name, rt := range transports(t) {
				srv := newRawServer(t, tc.serve)
				c, err := client.New(client.Config{
					URLs:           []string{srv.URL},
					HTTPClient:     &http.Client{Transport: rt},
					MaxAttempts:    1,
					AttemptTimeout: cmpOr(tc.attempt, 5*time.Second),
					Seed:           1,
				})
				if err != nil {
					t.Fatal(err)
				}
				for range tc.calls {
					ctx, cancel := context.WithTimeout(context.Background(), cmpOr(tc.deadline, 10*time.Second))
					_, err = c.Call(ctx, client.Request{Command: "ping", NoSession: true})
					cancel()
				}
				got[name] = sdkClass(err)
				lights[name] = c.State().Level
				c.Close()
				if got[name] != tc.want {
					t.Errorf("%s: %s (%v), want %s", name, got[name], err, tc.want)
				}
			}
			if got["lean"] != got["net/http"] || lights["lean"] != lights["net/http"] {
				t.Errorf("net/http: %s, light %v; lean: %s, light %v", got["net/http"], lights["net/http"], got["lean"], lights["lean"])
			}
		})
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// TestRegsim runs a desktop's session (login, device, invitations, polls)
// against a regsim instance through each transport: the same results.
func TestRegsim(t *testing.T) {
	results := map[string][]string{}
	for name, rt := range transports(t) {
		cl, err := regsim.NewCluster(regsim.Config{Instances: 1, Users: 4})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(cl.Instance(0))
		var got []string
		for _, user := range []string{"user0", "user1"} {
			c, err := client.New(client.Config{URLs: []string{srv.URL}, Username: user, Password: regsim.DefaultPassword,
				HTTPClient: &http.Client{Transport: rt}, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			ctx := timeoutCtx(t, 10*time.Second)
			_, err = c.Login(ctx)
			got = append(got, "login "+sdkClass(err))
			_, err = c.RegisterDevice(ctx, "desk", "key")
			got = append(got, "device "+sdkClass(err))
			for i := range 3 {
				r, err := c.SendInvitation(ctx, client.Invitation{SpaceID: fmt.Sprint(i), Recipient: "user2", Payload: []byte("p")})
				got = append(got, fmt.Sprintf("invite %s queued=%v", sdkClass(err), r.Queued))
			}
			_, err = c.GetMessages(ctx, 10)
			got = append(got, "poll "+sdkClass(err))
			c.Close()
		}
		c, err := client.New(client.Config{URLs: []string{srv.URL}, Username: "user2", Password: regsim.DefaultPassword,
			HTTPClient: &http.Client{Transport: rt}, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx := timeoutCtx(t, 10*time.Second)
		_, _ = c.Login(ctx)
		_, _ = c.RegisterDevice(ctx, "desk", "key")
		m, err := c.GetMessages(ctx, 100)
		got = append(got, fmt.Sprintf("recipient %s %d messages", sdkClass(err), len(m.Messages)))
		c.Close()
		results[name] = got
		rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		srv.Close()
		cl.Close()
	}
	if !slices.Equal(results["lean"], results["net/http"]) {
		t.Errorf("net/http: %q\nlean:     %q", results["net/http"], results["lean"])
	}
	if !slices.Contains(results["lean"], "recipient ok 6 messages") {
		t.Errorf("lean: %q, want the recipient to get 6 messages", results["lean"])
	}
}
