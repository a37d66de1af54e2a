package loadgen

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/regfleet/regfleet/client"
)

// ErrNoClientStarted is returned by Run, with the report, when not one
// client of the run could log in and register its device: the run measured
// nothing of the service. Report.Setup says why.
var ErrNoClientStarted = errors.New("loadgen: no client could start")

// SetupStats count how the starts of the clients went. A client has
// started once it has logged in, registered its device and begun to poll.
type SetupStats struct {
	Clients int64 `json:"clients"` // clients of this process (all shards in a merged report)
	Started int64 `json:"started"` // began to poll
	// Failed gave up on a permanent answer (an unknown user, a wrong
	// password); NotStarted were still trying when the run ended (the
	// server did not answer, or not in time).
	Failed     int64 `json:"failed"`
	NotStarted int64 `json:"not_started"`
	// Failures are the permanent answers by step and reason, most
	// frequent first.
	Failures []SetupFailure `json:"failures,omitempty"`
}

// SetupFailure is one reason clients could not start, and how many.
type SetupFailure struct {
	Step string `json:"step"` // the call: login, registerdevice, newclient
	// Class is the error class (ClassException for the server's
	// exception reply); Primary and Secondary its codes and Message its
	// message, when the server gave them.
	Class     string `json:"class"`
	Primary   int    `json:"primary_code,omitzero"`
	Secondary string `json:"secondary_code,omitempty"`
	Message   string `json:"message,omitempty"`
	Count     int64  `json:"count"`
}

// String describes the failure in one line.
func (f SetupFailure) String() string {
	s := f.Step + ": " + f.Class
	if f.Primary != 0 {
		s += " " + strconv.Itoa(f.Primary)
		if f.Secondary != "" {
			s += "/" + f.Secondary
		}
	}
	if f.Message != "" {
		s += " " + strconv.Quote(f.Message)
	}
	return s
}

// Warning returns the line a report leads with when clients could not
// start, or "" when all did.
func (s *SetupStats) Warning() string {
	if s == nil || s.Failed+s.NotStarted == 0 {
		return ""
	}
	msg := fmt.Sprintf("WARNING: %d of %d clients never started (%d refused, %d still trying at the end)",
		s.Failed+s.NotStarted, s.Clients, s.Failed, s.NotStarted)
	if len(s.Failures) > 0 {
		msg += "; most often " + s.Failures[0].String()
	}
	return msg
}

// maxSetupReasons caps the distinct reasons kept; the rest are counted
// under the last.
const maxSetupReasons = 16

// setupLog collects the clients' setup outcomes.
type setupLog struct {
	mu      sync.Mutex
	started int64
	failed  int64
	reasons map[SetupFailure]int64 // by reason, Count zero
}

// start counts a client that began to poll.
func (l *setupLog) start() {
	l.mu.Lock()
	l.started++
	l.mu.Unlock()
}

// fail counts a client that gave up at step with err.
func (l *setupLog) fail(step string, err error) {
	f := SetupFailure{Step: step, Class: classify(err)}
	var se *client.ServerError
	if errors.As(err, &se) {
		f.Primary, f.Secondary, f.Message = se.Primary, se.Secondary, truncate(se.Message, 120)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed++
	if l.reasons == nil {
		l.reasons = make(map[SetupFailure]int64)
	}
	if _, ok := l.reasons[f]; !ok && len(l.reasons) >= maxSetupReasons {
		f = SetupFailure{Step: "(other)", Class: OtherName}
	}
	l.reasons[f]++
}

// stats returns the counts for a process of clients clients.
func (l *setupLog) stats(clients int) *SetupStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &SetupStats{Clients: int64(clients), Started: l.started, Failed: l.failed}
	s.NotStarted = max(0, s.Clients-s.Started-s.Failed)
	for f, n := range l.reasons {
		f.Count = n
		s.Failures = append(s.Failures, f)
	}
	sortFailures(s.Failures)
	return s
}

// sortFailures orders failures most frequent first, then by text.
func sortFailures(fs []SetupFailure) {
	slices.SortFunc(fs, func(a, b SetupFailure) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.String(), b.String())
	})
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// mergeSetups adds up the shards' setup counts, reasons by reason; nil
// when no shard counted.
func mergeSetups(reports []*Report) *SetupStats {
	var out *SetupStats
	byReason := make(map[SetupFailure]int64)
	for _, r := range reports {
		st := r.Setup
		if st == nil {
			continue
		}
		if out == nil {
			out = &SetupStats{}
		}
		out.Clients += st.Clients
		out.Started += st.Started
		out.Failed += st.Failed
		out.NotStarted += st.NotStarted
		for _, f := range st.Failures {
			n := f.Count
			f.Count = 0
			byReason[f] += n
		}
	}
	for f, n := range byReason {
		f.Count = n
		out.Failures = append(out.Failures, f)
	}
	if out != nil {
		sortFailures(out.Failures)
	}
	return out
}
