package nagios

// Status is a check's result. Its value is the plugin's exit code.
type Status int

// The four states of the plugin API, with their exit codes.
const (
	OK       Status = 0
	Warning  Status = 1
	Critical Status = 2
	Unknown  Status = 3
)

var statusNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

// String returns "OK", "WARNING", "CRITICAL" or "UNKNOWN" (the word of the
// status line), and "UNKNOWN" for a value out of range.
func (s Status) String() string {
	if s < OK || s > Unknown {
		return "UNKNOWN"
	}
	return statusNames[s]
}

// severity orders states for Worst: OK < WARNING < UNKNOWN < CRITICAL. A
// check that could not tell one part's state still reports an outage it did
// find elsewhere.
func (s Status) severity() int {
	switch s {
	case OK:
		return 0
	case Warning:
		return 1
	case Critical:
		return 3
	default:
		return 2
	}
}

// Worse reports whether s is more severe than t, in Worst's order.
func (s Status) Worse(t Status) bool { return Worst(s, t) == s && s != t }

// Worst returns the most severe of states, in the order OK < WARNING <
// UNKNOWN < CRITICAL (Icinga's order). It returns OK for no states.
func Worst(states ...Status) Status {
	w := OK
	for _, s := range states {
		if s < OK || s > Unknown {
			s = Unknown
		}
		if s.severity() > w.severity() {
			w = s
		}
	}
	return w
}
