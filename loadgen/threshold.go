package loadgen

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// ErrBadThreshold reports a threshold that ParseThreshold cannot read; the
// wrapping error says what is wrong with it.
var ErrBadThreshold = errors.New("bad threshold")

// Op is the comparison of a Threshold: the figure must satisfy it, or the
// threshold is crossed.
type Op int

// Comparisons a Threshold can make.
const (
	OpLess         Op = iota + 1 // <
	OpLessEqual                  // <=
	OpGreater                    // >
	OpGreaterEqual               // >=
)

// String returns the operator as written.
func (o Op) String() string {
	switch o {
	case OpLess:
		return "<"
	case OpLessEqual:
		return "<="
	case OpGreater:
		return ">"
	case OpGreaterEqual:
		return ">="
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

func (o Op) holds(v, limit float64) bool {
	switch o {
	case OpLess:
		return v < limit
	case OpLessEqual:
		return v <= limit
	case OpGreater:
		return v > limit
	case OpGreaterEqual:
		return v >= limit
	}
	return false
}

// unit is the kind of value a metric takes.
type unit int

const (
	unitDuration unit = iota + 1 // a Go duration: 500ms
	unitCount                    // a number, or a percentage: 10, 1%
	unitNumber                   // a number: 2.5
)

// metric describes one metric thresholds can name.
type metric struct {
	unit    unit
	command bool   // accepts {command}
	of      string // what a percentage is of, for unitCount
	help    string
}

// lookupMetric returns the metric of the given name.
func lookupMetric(name string) (metric, bool) {
	switch name {
	case "p":
		return metric{unit: unitDuration, command: true, help: "latency percentile, e.g. p99 or p99.9"}, true
	case "mean":
		return metric{unit: unitDuration, command: true, help: "mean latency"}, true
	case "max":
		return metric{unit: unitDuration, command: true, help: "highest latency"}, true
	case "errors":
		return metric{unit: unitCount, command: true, of: "requests", help: "failed requests"}, true
	case "rps":
		return metric{unit: unitNumber, command: true, help: "requests per second over the run"}, true
	case "late":
		return metric{unit: unitCount, of: "sends", help: "sends started later than the tolerance"}, true
	case "missed":
		return metric{unit: unitCount, of: "offered sends", help: "sends due but never sent"}, true
	case "lost":
		return metric{unit: unitCount, of: "accepted invitations", help: "invitations accepted and not received, although their recipient polled since"}, true
	case "pending":
		return metric{unit: unitCount, of: "accepted invitations", help: "invitations accepted and not received, their recipient not polled since"}, true
	case "duplicated":
		return metric{unit: unitCount, of: "accepted invitations", help: "invitations received more than once"}, true
	case "steady_errors":
		return metric{unit: unitCount, of: "steady requests", help: "failed requests outside the outages and their recovery (all of them in a run without outage)"}, true
	case "outage_errors":
		return metric{unit: unitCount, of: "requests in outages", help: "failed requests in the outages and their recovery, until 99% Green"}, true
	case "outage_load":
		return metric{unit: unitNumber, help: "attempt rate during an outage / steady rate before it (requests when no attempts; the worst outage)"}, true
	case "herd":
		return metric{unit: unitNumber, help: "peak rate after an outage / steady rate before it (the worst outage)"}, true
	case "green50":
		return metric{unit: unitDuration, help: "time from an outage's end to 50% of clients Green (the worst outage)"}, true
	case "green99":
		return metric{unit: unitDuration, help: "time from an outage's end to 99% of clients Green"}, true
	case "green100":
		return metric{unit: unitDuration, help: "time from an outage's end to all clients Green"}, true
	case "drain":
		return metric{unit: unitDuration, help: "time from an outage's end to the outbox drained"}, true
	}
	return metric{}, false
}

// metricNames lists the metrics for error messages, in a fixed order.
const metricNames = "pNN (e.g. p99, p99.9), mean, max, errors, steady_errors, outage_errors, rps, late, missed, lost, pending, duplicated, outage_load, herd, green50, green99, green100, drain"

// ThresholdHelp returns one line per metric a threshold can name, with what
// it measures and the value it takes, for a CLI's usage text.
func ThresholdHelp() string {
	var b strings.Builder
	for _, name := range []string{"p", "mean", "max", "errors", "steady_errors", "outage_errors", "rps", "late", "missed", "lost", "pending", "duplicated", "outage_load", "herd", "green50", "green99", "green100", "drain"} {
		m, _ := lookupMetric(name)
		label := name
		if name == "p" {
			label = "pNN"
		}
		if m.command {
			label += "[{cmd}]"
		}
		value := map[unit]string{unitDuration: "duration, e.g. 500ms", unitCount: "count or %, e.g. 10 or 1%", unitNumber: "number, e.g. 2.5"}[m.unit]
		fmt.Fprintf(&b, "  %-18s %s (%s)\n", label, m.help, value)
	}
	b.WriteString("  {cmd} is a command (a protocol call, e.g. {sendinvitation}) or a user operation\n" +
		"  measured from its intended time (e.g. {invite}); without it, all commands\n" +
		"  steady_errors<1% holds the steady state of a run with outages to 1% of errors,\n" +
		"  whatever the outages cost; outage figures are of every outage, declared or detected\n")
	return b.String()
}

// Threshold is a limit on one figure of a report, such as "p99<500ms" or
// "errors<1%". Make one with ParseThreshold; the zero value is not valid.
type Threshold struct {
	// Metric is the figure's name: "p" (with Percentile), "mean", "max",
	// "errors", "steady_errors", "outage_errors", "rps", "late", "missed",
	// "lost", "pending", "duplicated", "outage_load", "herd", "green50", "green99",
	// "green100" or "drain".
	Metric string
	// Percentile is the percentile of metric "p", in (0, 100].
	Percentile float64
	// Command restricts a latency, errors or rps metric to one command,
	// or to the user operation of that name (such as "invite") when no
	// command has it; "" means all commands (operations are not part of
	// the totals).
	Command string
	// Op compares the report's figure (left) with Limit (right).
	Op Op
	// Limit is the value compared with: seconds for durations, a fraction
	// (0.01 for 1%) when Percent is set, else a plain number.
	Limit float64
	// Percent says that Limit is a share of a total (errors of operations,
	// late of sends, lost of accepted invitations…) rather than a count.
	Percent bool

	text string // the limit as written
}

// String returns the threshold in the form ParseThreshold reads.
func (t Threshold) String() string {
	var b strings.Builder
	b.WriteString(t.name())
	b.WriteString(t.Op.String())
	b.WriteString(t.text)
	return b.String()
}

// name returns the metric as written, with its command.
func (t Threshold) name() string {
	s := t.Metric
	if t.Metric == "p" {
		s = "p" + strconv.FormatFloat(t.Percentile, 'f', -1, 64)
	}
	if t.Command != "" {
		s += "{" + t.Command + "}"
	}
	return s
}

// ParseThreshold reads a threshold written as METRIC[{COMMAND}] OP VALUE,
// where OP is <, <=, > or >=, for example "p99<500ms", "p50{loginuser}<=50ms",
// "p99{invite}<2s", "errors<1%", "errors<=10", "rps>100", "herd<3" or
// "green99<30s", "steady_errors<1%" or "outage_load<5". COMMAND names a
// command or, when no command has that name, a user operation
// (Report.Operations); ParseThreshold does not check it. Latency and time
// metrics take a Go duration; errors, steady_errors, outage_errors, late,
// missed, lost and duplicated a count or a percentage; rps, outage_load and
// herd a number. steady_errors and outage_errors count the requests of the
// seconds outside and inside the outages and their recovery
// (Report.ErrorSplit). The error wraps ErrBadThreshold and says what is
// wrong.
func ParseThreshold(s string) (Threshold, error) {
	bad := func(format string, args ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("%w %q: %s", ErrBadThreshold, s, fmt.Sprintf(format, args...))
	}
	i := strings.IndexAny(s, "<>=")
	if i < 0 {
		return bad("no comparison (one of <, <=, >, >=), e.g. p99<500ms")
	}
	var t Threshold
	left, right := strings.TrimSpace(s[:i]), s[i:]
	switch {
	case strings.HasPrefix(right, "<="):
		t.Op, right = OpLessEqual, right[2:]
	case strings.HasPrefix(right, ">="):
		t.Op, right = OpGreaterEqual, right[2:]
	case strings.HasPrefix(right, "<"):
		t.Op, right = OpLess, right[1:]
	case strings.HasPrefix(right, ">"):
		t.Op, right = OpGreater, right[1:]
	default:
		return bad("comparison %q is not one of <, <=, >, >=", right[:1])
	}
	right = strings.TrimSpace(right)
	if strings.ContainsAny(right, "<>=") {
		return bad("more than one comparison")
	}
	if left == "" {
		return bad("no metric before %s (one of %s)", t.Op, metricNames)
	}
	if right == "" {
		return bad("no value after %s", t.Op)
	}
	if open := strings.IndexByte(left, '{'); open >= 0 {
		if !strings.HasSuffix(left, "}") {
			return bad("command selector %q does not end with }", left[open:])
		}
		t.Command = strings.TrimSpace(left[open+1 : len(left)-1])
		if t.Command == "" || strings.ContainsAny(t.Command, "{}") {
			return bad("command selector %q is not {COMMAND}", left[open:])
		}
		left = strings.TrimSpace(left[:open])
	} else if strings.ContainsRune(left, '}') {
		return bad("%q has } without {", left)
	}
	name := strings.ToLower(left)
	if rest, ok := strings.CutPrefix(name, "p"); ok && rest != "" && (rest[0] >= '0' && rest[0] <= '9') {
		q, err := strconv.ParseFloat(rest, 64)
		if err != nil {
			return bad("percentile %q is not a number", rest)
		}
		if !(q > 0 && q <= 100) {
			return bad("percentile %s is not in (0, 100]; the 99.9th is written p99.9", rest)
		}
		t.Metric, t.Percentile = "p", q
	} else {
		t.Metric = name
	}
	m, ok := lookupMetric(t.Metric)
	if !ok || t.Metric == "p" && t.Percentile == 0 {
		return bad("unknown metric %q (one of %s)", left, metricNames)
	}
	if t.Command != "" && !m.command {
		return bad("metric %s takes no {command}", t.Metric)
	}
	t.text = right
	switch m.unit {
	case unitDuration:
		if strings.HasSuffix(right, "%") {
			return bad("%s is a duration, not a percentage, e.g. 500ms", t.name())
		}
		d, err := time.ParseDuration(right)
		if err != nil {
			if _, nerr := strconv.ParseFloat(right, 64); nerr == nil {
				return bad("value %q needs a unit, e.g. %sms", right, right)
			}
			return bad("value %q is not a duration, e.g. 500ms", right)
		}
		if d < 0 {
			return bad("duration %q is negative", right)
		}
		t.Limit = d.Seconds()
	case unitCount:
		num, pct := strings.CutSuffix(right, "%")
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return bad("value %q is not a count or a percentage, e.g. 10 or 1%%", right)
		}
		if v < 0 {
			return bad("value %q is negative", right)
		}
		if pct {
			if v > 100 {
				return bad("percentage %q is above 100%%", right)
			}
			t.Percent, v = true, v/100
		}
		t.Limit = v
	case unitNumber:
		if strings.HasSuffix(right, "%") {
			return bad("%s is a number, not a percentage", t.name())
		}
		v, err := strconv.ParseFloat(right, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return bad("value %q is not a number", right)
		}
		if v < 0 {
			return bad("value %q is negative", right)
		}
		t.Limit = v
	}
	return t, nil
}

// Crossed is a threshold that a report did not satisfy.
type Crossed struct {
	Threshold Threshold // the threshold crossed
	// Measured is false when the report has no such figure (no requests,
	// no such command or operation, no outage, never Green again); such a
	// threshold counts as crossed, so that a CI run cannot pass on missing
	// data.
	Measured bool
	// Value is the figure, in the unit of Threshold.Limit.
	Value float64
	// Reason says why it was not measured.
	Reason string
}

// String describes the crossing, e.g. "p99<500ms crossed: 812ms".
func (c Crossed) String() string {
	if !c.Measured {
		return c.Threshold.String() + " not measured: " + c.Reason
	}
	return c.Threshold.String() + " crossed: " + c.Threshold.format(c.Value)
}

func (t Threshold) unit() unit {
	m, _ := lookupMetric(t.Metric)
	return m.unit
}

// format formats a figure in the threshold's unit.
func (t Threshold) format(v float64) string {
	switch {
	case t.unit() == unitDuration:
		return fmtDur(time.Duration(v * float64(time.Second)))
	case t.Percent:
		return strconv.FormatFloat(100*v, 'g', 4, 64) + "%"
	default:
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
}

// Result is how a report fared against one threshold.
type Result struct {
	Threshold Threshold // the threshold checked
	// Measured is false when the report has no such figure; Reason then
	// says why, and the threshold counts as crossed (see Crossed).
	Measured bool
	Value    float64 // the figure, in the unit of Threshold.Limit
	Reason   string  // why it was not measured
	// Held is true when the figure was measured and satisfies the
	// threshold.
	Held bool
}

// String describes the result with a check mark: "✓ p99<500ms held: 12ms",
// "✗ p99<500ms crossed: 812ms" or "✗ herd<2 not measured: no outage in the
// report".
func (r Result) String() string {
	switch {
	case r.Held:
		return "✓ " + r.Threshold.String() + " held: " + r.Threshold.format(r.Value)
	case !r.Measured:
		return "✗ " + r.Threshold.String() + " not measured: " + r.Reason
	}
	return "✗ " + r.Threshold.String() + " crossed: " + r.Threshold.format(r.Value)
}

// Evaluate measures each threshold of ts in report r, in the order given,
// held or not.
func Evaluate(r *Report, ts ...Threshold) []Result {
	out := make([]Result, 0, len(ts))
	for _, t := range ts {
		v, reason := t.Measure(r)
		if reason != "" {
			out = append(out, Result{Threshold: t, Reason: reason})
			continue
		}
		out = append(out, Result{Threshold: t, Measured: true, Value: v, Held: t.Op.holds(v, t.Limit)})
	}
	return out
}

// Check returns the thresholds that report r crosses, in the order given;
// none when r satisfies them all. Evaluate returns the held ones too.
func Check(r *Report, ts ...Threshold) []Crossed {
	var out []Crossed
	for _, res := range Evaluate(r, ts...) {
		if !res.Held {
			out = append(out, Crossed{Threshold: res.Threshold, Measured: res.Measured, Value: res.Value, Reason: res.Reason})
		}
	}
	return out
}

// healthCommand is the command name the client reports its health checks
// under (client.CallInfo.Command).
const healthCommand = "healthz"

// KnownNames returns, sorted, the names a threshold's {cmd} can take in the
// report of a Run: the protocol commands the SDK sends, "healthz" (its
// health checks) and the user operations "invite" and "deliver".
func KnownNames() []string {
	return slices.Sorted(slices.Values([]string{
		wire.CmdRegisterUser, wire.CmdLoginUser, wire.CmdRegisterDevice, wire.CmdSendInvitation,
		wire.CmdSendComment, wire.CmdGetMessages, wire.CmdAckMessages, wire.CmdChangePassword,
		wire.CmdSendPassword, wire.CmdSetKeyRepository, wire.CmdGetSettings,
		healthCommand, opInvite, opDeliver,
	}))
}

// CheckNames returns an error wrapping ErrBadThreshold for the first
// threshold of ts whose Command is none of names (KnownNames, before a
// run; a report's CommandNames and OperationNames too, after it), listing
// them; nil when each names one of them or none.
func CheckNames(names []string, ts ...Threshold) error {
	for _, t := range ts {
		if t.Command != "" && !slices.Contains(names, t.Command) {
			return fmt.Errorf("%w %q: unknown command or operation %q (one of %s)",
				ErrBadThreshold, t.String(), t.Command, strings.Join(names, ", "))
		}
	}
	return nil
}

// unknownName says that r has no command or operation name, and lists those
// it has.
func unknownName(r *Report, name string) string {
	list := func(names []string) string {
		if len(names) == 0 {
			return "none"
		}
		return strings.Join(names, ", ")
	}
	return "no command or operation " + strconv.Quote(name) + " in the report (commands: " +
		list(r.CommandNames()) + "; operations: " + list(r.OperationNames()) + ")"
}

// Measure returns the figure of r that t limits, in the unit of t.Limit, or
// a reason why r has no such figure.
func (t Threshold) Measure(r *Report) (v float64, reason string) {
	m, ok := lookupMetric(t.Metric)
	if !ok {
		return 0, "unknown metric " + t.Metric
	}
	ratio := func(n, of int64) (float64, string) {
		if !t.Percent {
			return float64(n), ""
		}
		if of == 0 {
			return 0, "no " + m.of
		}
		return float64(n) / float64(of), ""
	}
	var requests, errs int64
	if t.Command != "" {
		c, _ := r.named(t.Command)
		if c == nil {
			return 0, unknownName(r, t.Command)
		}
		requests, errs = c.Requests, c.Errors
	} else {
		requests, errs = r.Requests, r.Errors
	}
	switch t.Metric {
	case "p", "mean", "max":
		h, err := r.Histogram(t.Command)
		if err != nil {
			return 0, err.Error()
		}
		if h.TotalCount() == 0 {
			return 0, "no latencies recorded"
		}
		var us float64
		switch t.Metric {
		case "p":
			us = float64(h.ValueAtPercentile(t.Percentile))
		case "mean":
			us = h.Mean()
		case "max":
			us = float64(h.Max())
		}
		return us / 1e6, ""
	case "errors":
		return ratio(errs, requests)
	case "steady_errors":
		if e := r.ErrorSplit; e != nil {
			return ratio(e.SteadyErrors, e.SteadyRequests)
		}
		return ratio(r.Errors, r.Requests) // no outage: all of the run is steady
	case "outage_errors":
		if r.ErrorSplit == nil {
			return 0, "no outage in the report"
		}
		return ratio(r.ErrorSplit.OutageErrors, r.ErrorSplit.OutageRequests)
	case "rps":
		s := r.Elapsed().Seconds()
		if s <= 0 {
			return 0, "the run has no duration"
		}
		return float64(requests) / s, ""
	case "late":
		return ratio(r.Schedule.Late, r.Schedule.Sent)
	case "missed":
		return ratio(r.Schedule.Missed, r.Schedule.Offered)
	case "lost", "pending", "duplicated":
		if r.Delivery == nil {
			return 0, "no delivery accounting in the report"
		}
		n := r.Delivery.Lost
		switch t.Metric {
		case "duplicated":
			n = r.Delivery.Duplicated
		case "pending":
			n = r.Delivery.Pending
		}
		return ratio(n, r.Delivery.Accepted)
	}
	// Outage figures: the worst outage.
	if len(r.Outages) == 0 {
		return 0, "no outage in the report"
	}
	worst := math.Inf(-1)
	for _, o := range r.Outages {
		var f float64
		switch t.Metric {
		case "herd":
			if o.SteadyRate == 0 {
				return 0, "no steady rate before outage " + o.Outage
			}
			f = o.HerdRatio
		case "outage_load":
			if o.SteadyRate == 0 {
				return 0, "no steady rate before outage " + o.Outage
			}
			f = o.Load()
		default:
			d := map[string]*Duration{"green50": o.Green50, "green99": o.Green99, "green100": o.Green100, "drain": o.Drain}[t.Metric]
			if d == nil {
				return 0, "not reached before the end of the run after outage " + o.Outage
			}
			f = time.Duration(*d).Seconds()
		}
		worst = max(worst, f)
	}
	return worst, ""
}
