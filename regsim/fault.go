package regsim

import (
	"fmt"
	"strings"
	"time"
)

// Fault is the set of faults of one instance. The zero value means no fault.
// Several faults may be combined; a request meets them in this order: Down,
// Hang, Latency+Jitter, Unavailable, ErrorRate, then it is served, and with
// Reset the connection is closed in the middle of the reply (after the
// command was applied, so that a client replay is absorbed as a duplicate).
type Fault struct {
	// Down closes the instance's listener (connection refused) and every
	// open connection of that instance; clearing it listens again on the
	// same port.
	Down bool `json:"down,omitempty"`
	// Unavailable answers 503, with a Retry-After header when RetryAfter > 0.
	Unavailable bool `json:"unavailable,omitempty"`
	// RetryAfter is the Retry-After of Unavailable, rounded up to seconds;
	// 0 means no header.
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Hang accepts requests and never answers until the fault is cleared
	// (the request is then served) or the request's context ends.
	Hang bool `json:"hang,omitempty"`
	// Latency is a fixed delay before answering.
	Latency time.Duration `json:"latency,omitempty"`
	// Jitter adds a random delay in [0, Jitter) to Latency.
	Jitter time.Duration `json:"jitter,omitempty"`
	// ErrorRate is the share of requests, in [0, 1], answered with HTTP 500.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// Reset closes the connection in the middle of the reply.
	Reset bool `json:"reset,omitempty"`
}

// IsZero reports whether f is no fault at all.
func (f Fault) IsZero() bool { return f == Fault{} }

// String lists the active faults, e.g. "hang,latency=100ms", or "none".
func (f Fault) String() string {
	var parts []string
	if f.Down {
		parts = append(parts, "down")
	}
	if f.Unavailable {
		s := "unavailable"
		if f.RetryAfter > 0 {
			s += "(retry-after=" + f.RetryAfter.String() + ")"
		}
		parts = append(parts, s)
	}
	if f.Hang {
		parts = append(parts, "hang")
	}
	if f.Latency > 0 || f.Jitter > 0 {
		parts = append(parts, fmt.Sprintf("latency=%v+[0,%v)", f.Latency, f.Jitter))
	}
	if f.ErrorRate > 0 {
		parts = append(parts, fmt.Sprintf("error-rate=%g", f.ErrorRate))
	}
	if f.Reset {
		parts = append(parts, "reset")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// normalized clamps out-of-range values so that a Fault from any source
// (Go, the control endpoint) is safe to apply.
func (f Fault) normalized() Fault {
	if f.RetryAfter < 0 {
		f.RetryAfter = 0
	}
	if f.Latency < 0 {
		f.Latency = 0
	}
	if f.Jitter < 0 {
		f.Jitter = 0
	}
	switch {
	case f.ErrorRate < 0 || f.ErrorRate != f.ErrorRate: // negative or NaN
		f.ErrorRate = 0
	case f.ErrorRate > 1:
		f.ErrorRate = 1
	}
	return f
}

// faultState is one published fault setting. changed is closed when the
// setting is replaced, which wakes every request waiting on it.
type faultState struct {
	f       Fault
	changed chan struct{}
}

func newFaultState(f Fault) *faultState {
	return &faultState{f: f, changed: make(chan struct{})}
}
