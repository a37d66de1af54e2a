package client

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors of the client. Match them with errors.Is.
var (
	// ErrOffline reports that an online-only operation was refused without
	// touching the network because the client is Red (the Registration
	// Server was unreachable on every endpoint at the last attempt).
	ErrOffline = errors.New("client: offline: the Registration Server is unreachable")
	// ErrClosed reports use of a closed Client.
	ErrClosed = errors.New("client: closed")
	// ErrUnavailable is matched by a *CallError: the call failed on every
	// attempt with transient failures (unreachable, 5xx, a foreign reply).
	ErrUnavailable = errors.New("client: no endpoint could serve the call")
	// ErrInvalidConfig is wrapped by every error New returns for a bad
	// Config; the message names the field.
	ErrInvalidConfig = errors.New("client: invalid config")
	// ErrNoCredentials reports an operation that needs a session while the
	// Config holds neither a session nor a username and password.
	ErrNoCredentials = errors.New("client: no session and no credentials")
	// ErrNoDevice reports polling without a device id (set Config.DeviceID
	// or call RegisterDevice first).
	ErrNoDevice = errors.New("client: no device id")
	// ErrPolling reports a second StartPolling while a poll loop runs.
	ErrPolling = errors.New("client: already polling")
	// ErrNotRegistrationServer is wrapped when a reply is not a <teamdrive>
	// document (a captive portal's or a proxy's page) or is over 1 MiB.
	ErrNotRegistrationServer = errors.New("client: reply is not from a Registration Server")
	// ErrRetryBudget is joined into a *CallError when the retry budget
	// stopped further attempts.
	ErrRetryBudget = errors.New("client: retry budget exhausted")
)

// ServerError is an exception reply of the Registration Server. Use
// errors.As to get it; Primary holds the protocol's primary code (for
// example -30100 for an unknown user).
type ServerError struct {
	Primary   int    // primary code, e.g. -30100
	Secondary string // secondary code, e.g. "2003"; may be empty
	Message   string // the server's message
	Command   string // the command that failed
	Endpoint  string // the endpoint that answered, redacted
}

// Error describes the exception with its command and endpoint.
func (e *ServerError) Error() string {
	var b strings.Builder
	b.WriteString("client: ")
	b.WriteString(e.Command)
	b.WriteString(": server exception ")
	b.WriteString(strconv.Itoa(e.Primary))
	if e.Secondary != "" {
		b.WriteString(" (" + e.Secondary + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Endpoint != "" {
		b.WriteString(" from " + e.Endpoint)
	}
	return b.String()
}

// Transient reports whether the code is one a retry on another endpoint may
// fix (the instance lost its database).
func (e *ServerError) Transient() bool { return transientCode(e.Primary) }

// HTTPError is a reply with an HTTP status other than 200.
type HTTPError struct {
	StatusCode int
	Command    string
	Endpoint   string // redacted
	// RetryAfter is the server's Retry-After (already capped), or 0.
	RetryAfter time.Duration
}

// Error describes the status with its command and endpoint.
func (e *HTTPError) Error() string {
	s := "client: " + e.Command + ": HTTP " + strconv.Itoa(e.StatusCode)
	if e.Endpoint != "" {
		s += " from " + e.Endpoint
	}
	if e.RetryAfter > 0 {
		s += " (retry after " + e.RetryAfter.String() + ")"
	}
	return s
}

// AttemptError is the failure of one attempt on one endpoint.
type AttemptError struct {
	Endpoint string // redacted base URL
	Err      error
}

// Error names the endpoint and the cause.
func (e *AttemptError) Error() string { return e.Endpoint + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *AttemptError) Unwrap() error { return e.Err }

// CallError reports a call that no endpoint could serve. It matches
// ErrUnavailable with errors.Is, and unwraps to the joined causes of every
// attempt (each an *AttemptError), plus the context's error when the
// caller's deadline or cancellation ended the call.
type CallError struct {
	Command   string
	Attempts  int
	Endpoints []string // endpoints tried, redacted, in order (repeats removed)
	// RetryAfter is the shortest Retry-After among the attempts when every
	// failed attempt carried one; otherwise 0.
	RetryAfter time.Duration
	Err        error // errors.Join of the causes
}

// Error names the command, the attempts, every endpoint tried and each
// cause, on one line.
func (e *CallError) Error() string {
	var b strings.Builder
	b.WriteString("client: ")
	b.WriteString(e.Command)
	b.WriteString(" failed after ")
	b.WriteString(strconv.Itoa(e.Attempts))
	if e.Attempts == 1 {
		b.WriteString(" attempt")
	} else {
		b.WriteString(" attempts")
	}
	if len(e.Endpoints) > 0 {
		b.WriteString(" on ")
		b.WriteString(strings.Join(e.Endpoints, ", "))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.ReplaceAll(e.Err.Error(), "\n", "; "))
	}
	return b.String()
}

// Unwrap returns the joined causes.
func (e *CallError) Unwrap() error { return e.Err }

// Is reports whether target is ErrUnavailable.
func (e *CallError) Is(target error) bool { return target == ErrUnavailable }

// redactURL returns u without userinfo, query and fragment.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}

// redactErr strips the URL (with its query) from a transport error and keeps
// the cause.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("%s: timeout: %w", strings.ToLower(ue.Op), ue.Err)
		}
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
