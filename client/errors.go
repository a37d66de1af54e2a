package client

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
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
	// ErrNoDevice reports polling (StartPolling, GetMessages, AckMessages)
	// without a device id; its text says what to do.
	ErrNoDevice = errors.New("client: no device id: call RegisterDevice or set Config.DeviceID first")
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
	s := "client: " + e.Command + ": " + e.attemptText()
	if e.Endpoint != "" {
		s += " from " + e.Endpoint
	}
	return s
}

// attemptText describes the exception without command and endpoint, for
// an AttemptError that names them already.
func (e *ServerError) attemptText() string {
	s := "server exception " + strconv.Itoa(e.Primary)
	if e.Secondary != "" {
		s += " (" + e.Secondary + ")"
	}
	if e.Message != "" {
		s += ": " + scrubText(e.Message)
	}
	return s
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
	return s + e.retryAfterText()
}

// attemptText describes the status without command and endpoint, for an
// AttemptError that names them already.
func (e *HTTPError) attemptText() string {
	return "HTTP " + strconv.Itoa(e.StatusCode) + e.retryAfterText()
}

func (e *HTTPError) retryAfterText() string {
	if e.RetryAfter > 0 {
		return " (retry after " + e.RetryAfter.String() + ")"
	}
	return ""
}

// attemptTexter is an error that can describe itself without the command
// and endpoint an AttemptError or a CallError already names.
type attemptTexter interface{ attemptText() string }

// AttemptError is the failure of one attempt on one endpoint.
type AttemptError struct {
	Endpoint string // redacted base URL
	Err      error
}

// Error names the endpoint, then the cause; a cause that is an *HTTPError
// or a *ServerError is described without repeating the endpoint and the
// command, which the CallError around it names.
func (e *AttemptError) Error() string {
	cause := "<nil>"
	if at, ok := e.Err.(attemptTexter); ok {
		cause = at.attemptText()
	} else if e.Err != nil {
		cause = e.Err.Error()
	}
	if e.Endpoint == "" {
		return scrubText(cause)
	}
	return scrubText(e.Endpoint + ": " + cause)
}

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

// Error names the command and the number of attempts, then each cause on
// the same line, separated by "; ": each attempt's cause after its
// endpoint, so that every endpoint and the command are said once, e.g.
//
//	client: sendinvitation failed after 2 attempts: http://a: HTTP 503; http://b: dial tcp 10.0.0.2:80: connect: connection refused
//
// An endpoint tried without a failure of its own (the caller's context
// ended during the attempt) is named after the attempts: "… 1 attempt on
// http://a: context canceled".
func (e *CallError) Error() string {
	var causes []error
	if j, ok := e.Err.(interface{ Unwrap() []error }); ok {
		causes = j.Unwrap()
	} else if e.Err != nil {
		causes = []error{e.Err}
	}
	named := make(map[string]bool, len(causes))
	for _, c := range causes {
		if ae, ok := c.(*AttemptError); ok {
			named[ae.Endpoint] = true
		}
	}
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
	sep := " on "
	for _, ep := range e.Endpoints {
		if !named[ep] {
			b.WriteString(sep)
			b.WriteString(ep)
			sep = ", "
		}
	}
	sep = ": "
	for _, c := range causes {
		if c == nil {
			continue
		}
		b.WriteString(sep)
		// The sentinels' "client: " was said at the start.
		b.WriteString(strings.ReplaceAll(strings.TrimPrefix(c.Error(), "client: "), "\n", "; "))
		sep = "; "
	}
	return scrubText(b.String())
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

// redactErr strips the method and the URL (with its checksum query) from a
// transport error, and any checksum from the cause's text (a broken server
// may echo the request line into net/http's "malformed HTTP response"), and
// keeps the cause.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
		if ue.Timeout() && !strings.Contains(err.Error(), "timeout") {
			err = fmt.Errorf("timeout: %w", err)
		}
	}
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := scrubText(msg); clean != msg {
		return &redactedError{msg: clean, cause: err}
	}
	return err
}

// redactedError is a transport error whose text held a checksum. It matches
// what its cause matches with errors.Is (syscall.ECONNRESET,
// context.DeadlineExceeded, …) but does not unwrap: the cause's own text
// would carry the checksum.
type redactedError struct {
	msg   string
	cause error
}

// Error returns the cause's text without the checksum.
func (e *redactedError) Error() string { return e.msg }

// Is reports whether the cause matches target.
func (e *redactedError) Is(target error) bool { return errors.Is(e.cause, target) }

// checksumText matches what a checksum may look like in a text: the query
// parameter with its value (plain or percent-encoded) and a bare MD5 in hex.
var checksumText = regexp.MustCompile(`(?i)checksum(?:=|%3d)[^\s&"'\\;,)]*|\b[0-9a-f]{32}\b`)

// scrubText replaces every checksum in s by "checksum=REDACTED" (or
// "REDACTED" for a bare one).
func scrubText(s string) string {
	return checksumText.ReplaceAllStringFunc(s, func(m string) string {
		if len(m) > 8 && strings.EqualFold(m[:8], "checksum") {
			return "checksum=REDACTED"
		}
		return "REDACTED"
	})
}
