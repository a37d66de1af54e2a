package loadgen

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrBadWindow reports an outage window that ParseWindow cannot read; the
// wrapping error says what is wrong with it.
var ErrBadWindow = errors.New("bad outage window")

// Window is an outage of an external cluster, declared rather than switched:
// loadgen cannot make a real cluster fail, but an operator who did (by hand,
// or with a chaos tool) can say when, and the report gives the window the
// figures of an embedded outage (Report.AddWindow). The outage began At
// after the run's start and lasted Duration.
type Window struct {
	At       time.Duration // from the run's start
	Duration time.Duration // positive
}

// End returns when the window ends, counted from the run's start.
func (w Window) End() time.Duration { return w.At + w.Duration }

// String returns the window in the form ParseWindow reads: "20s+15s".
func (w Window) String() string { return w.At.String() + "+" + w.Duration.String() }

// ParseWindow reads an outage window written as START+DURATION, two Go
// durations: the outage began START after the run's start and lasted
// DURATION, e.g. "20s+15s" or "1m30s+2m". START may be 0; DURATION must be
// positive. The error wraps ErrBadWindow.
func ParseWindow(s string) (Window, error) {
	bad := func(format string, args ...any) (Window, error) {
		return Window{}, fmt.Errorf("%w %q: %s (want START+DURATION after the run's start, e.g. 20s+15s)", ErrBadWindow, s, fmt.Sprintf(format, args...))
	}
	at, dur, ok := strings.Cut(strings.TrimSpace(s), "+")
	if !ok {
		return bad("no + between the start and the duration")
	}
	parse := func(what, v string) (time.Duration, error) {
		v = strings.TrimSpace(v)
		if v == "" {
			return 0, fmt.Errorf("no %s", what)
		}
		if v[0] == '+' || v[0] == '-' {
			return 0, fmt.Errorf("%s %q has a sign", what, v)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("%s %q is not a duration such as 20s", what, v)
		}
		return d, nil
	}
	var w Window
	var err error
	if w.At, err = parse("start", at); err != nil {
		return bad("%v", err)
	}
	if w.Duration, err = parse("duration", dur); err != nil {
		return bad("%v", err)
	}
	if w.Duration == 0 {
		return bad("the duration is 0")
	}
	if w.End() < w.At {
		return bad("the window ends too far in the future")
	}
	return w, nil
}

// SlowDown is a server-directed slow-down: for For after each outage ends,
// the embedded cluster answers every poll with a <pollinterval> of
// Interval, and the SDK obeys at once (the next poll wait, and its outbox
// drain slowed as much). The zero value is none.
type SlowDown struct {
	Interval time.Duration // the <pollinterval> asked for
	For      time.Duration // how long after the outage's end
}

// String formats s as ParseSlowDown reads it ("60s:2m0s"), "" for none.
func (s SlowDown) String() string {
	if s == (SlowDown{}) {
		return ""
	}
	return s.Interval.String() + ":" + s.For.String()
}

// ParseSlowDown reads "INTERVAL:DURATION", e.g. "60s:2m": polls 60 s apart
// for 2 minutes after each outage.
func ParseSlowDown(v string) (SlowDown, error) {
	iv, dur, ok := strings.Cut(strings.TrimSpace(v), ":")
	if !ok {
		return SlowDown{}, fmt.Errorf("slow-down %q: want INTERVAL:DURATION, e.g. 60s:2m", v)
	}
	i, err := time.ParseDuration(iv)
	if err != nil || i <= 0 {
		return SlowDown{}, fmt.Errorf("slow-down %q: interval %q is not a positive duration", v, iv)
	}
	d, err := time.ParseDuration(dur)
	if err != nil || d <= 0 {
		return SlowDown{}, fmt.Errorf("slow-down %q: duration %q is not a positive duration", v, dur)
	}
	return SlowDown{Interval: i, For: d}, nil
}
