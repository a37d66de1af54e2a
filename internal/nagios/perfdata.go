package nagios

import (
	"strings"
)

// Perf is one value of performance data, written
// 'label'=value[UOM];[warn];[crit];[min];[max].
type Perf struct {
	// Label names the value. It is quoted when it holds a space, and a
	// quote in it is doubled; "=", "|" and control characters, which no
	// monitoring system reads back, are replaced by "_".
	Label string
	// Value is the measurement, printed in plain decimal notation.
	Value float64
	// Unknown prints "U" instead of Value: the value could not be measured
	// (an endpoint that did not answer has no round-trip time, and 0 would
	// draw a fast point on every graph).
	Unknown bool
	// UOM is the unit of measure: "" (a number of things), "s", "ms",
	// "us", "%", "B", "KB", "MB", "TB" or "c" (a counter).
	UOM string
	// Warn and Crit are the thresholds in force for Value, nil when none.
	Warn, Crit *Range
	// Min and Max bound Value, nil when unbounded or unknown.
	Min, Max *float64
}

// String returns p in the performance-data syntax, without trailing empty
// fields: "time=0.2ms;500;2000;0;10000", "up=1;;1:;0;2", "'a b'=U".
func (p Perf) String() string {
	var b strings.Builder
	b.WriteString(quoteLabel(p.Label))
	b.WriteByte('=')
	if p.Unknown {
		b.WriteByte('U')
	} else {
		b.WriteString(FormatNumber(p.Value))
		b.WriteString(p.UOM)
	}
	fields := make([]string, 4)
	if p.Warn != nil {
		fields[0] = p.Warn.String()
	}
	if p.Crit != nil {
		fields[1] = p.Crit.String()
	}
	if p.Min != nil {
		fields[2] = FormatNumber(*p.Min)
	}
	if p.Max != nil {
		fields[3] = FormatNumber(*p.Max)
	}
	n := len(fields)
	for n > 0 && fields[n-1] == "" {
		n--
	}
	for _, f := range fields[:n] {
		b.WriteByte(';')
		b.WriteString(f)
	}
	return b.String()
}

func quoteLabel(l string) string {
	clean := strings.Map(func(r rune) rune {
		if r == '=' || r == '|' || r < ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, l)
	if clean == "" {
		clean = "_"
	}
	if !strings.ContainsAny(clean, " '") {
		return clean
	}
	return "'" + strings.ReplaceAll(clean, "'", "''") + "'"
}

// FormatPerf joins perfs with spaces, as they follow the "|".
func FormatPerf(perfs []Perf) string {
	s := make([]string, len(perfs))
	for i, p := range perfs {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
