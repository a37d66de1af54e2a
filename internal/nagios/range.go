package nagios

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Range is a threshold range of the plugin guidelines, written
// [@][start:][end]. Without "@" a value outside start..end (both included)
// raises the alert; with "@" a value inside does:
//
//	10      alert if v < 0 or v > 10
//	10:     alert if v < 10
//	~:10    alert if v > 10
//	10:20   alert if v < 10 or v > 20
//	@10:20  alert if 10 ≤ v ≤ 20
//
// Start is math.Inf(-1) for "~", End is math.Inf(1) when omitted. The zero
// Range is "0", which alerts for every value but 0; use ParseRange or a
// *Range that is nil for "no threshold".
type Range struct {
	Start, End float64
	Inside     bool // "@": alert inside Start..End rather than outside
}

// ErrRange reports a string that is not a range; the errors of ParseRange
// wrap it.
var ErrRange = errors.New("not a range")

// ParseRange parses s ("10", "10:", "~:10", "10:20", "@10:20"; numbers in
// plain decimal notation, optionally signed and with a fraction). An empty
// start means 0 (":10" is "10"), an empty end positive infinity; an empty
// range (":" too), start > end, exponents, "inf", "NaN" and numbers beyond
// float64 are errors wrapping ErrRange.
func ParseRange(s string) (Range, error) {
	bad := func(why string) (Range, error) {
		return Range{}, fmt.Errorf("%w: %q: %s", ErrRange, s, why)
	}
	r := Range{End: math.Inf(1)}
	body := strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(body, "@"); ok {
		r.Inside, body = true, rest
	}
	if body == "" {
		return bad("empty")
	}
	startS, endS, hasColon := strings.Cut(body, ":")
	if !hasColon {
		startS, endS = "", body
	} else if startS == "" && endS == "" {
		return bad("neither start nor end")
	}
	switch startS {
	case "~":
		r.Start = math.Inf(-1)
	case "":
		r.Start = 0
	default:
		v, err := parseNumber(startS)
		if err != nil {
			return bad("start: " + err.Error())
		}
		r.Start = v
	}
	if endS != "" {
		v, err := parseNumber(endS)
		if err != nil {
			return bad("end: " + err.Error())
		}
		r.End = v
	}
	if r.Start > r.End {
		return bad("start is greater than end")
	}
	return r, nil
}

// parseNumber parses a decimal number without exponent: "-12", "0.5", ".5",
// "3.".
func parseNumber(s string) (float64, error) {
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	seen, dot := false, false
	for _, c := range digits {
		switch {
		case c >= '0' && c <= '9':
			seen = true
		case c == '.' && !dot:
			dot = true
		default:
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	if !seen {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return v, nil
}

// Alert reports whether v raises the alert of r. NaN is outside every range.
func (r Range) Alert(v float64) bool {
	in := v >= r.Start && v <= r.End
	return in == r.Inside
}

// String returns r in the guidelines' syntax, in its shortest form: a start
// of 0 is left out ("10", not "0:10"), and ParseRange of it gives r back.
func (r Range) String() string {
	var b strings.Builder
	if r.Inside {
		b.WriteByte('@')
	}
	switch {
	case math.IsInf(r.Start, -1):
		b.WriteString("~:")
	case r.Start == 0 && !math.IsInf(r.End, 1):
		// "0:10" is written "10".
	default:
		b.WriteString(FormatNumber(r.Start))
		b.WriteByte(':')
	}
	if !math.IsInf(r.End, 1) {
		b.WriteString(FormatNumber(r.End))
	}
	return b.String()
}

// Describe says, for a status text, how v stands against r, each number
// followed by unit when it is not empty: "712 ms > 500 ms", "3 < 10",
// "15 ms outside 10:20 ms", "15 ms inside @10:20 ms". Numbers print as
// FormatNumber prints them, so 0.2 stays 0.2.
func (r Range) Describe(v float64, unit string) string {
	num := func(x float64) string {
		if unit == "" {
			return FormatNumber(x)
		}
		return FormatNumber(x) + " " + unit
	}
	rng := func() string {
		if unit == "" {
			return r.String()
		}
		return r.String() + " " + unit
	}
	switch {
	case r.Inside:
		if r.Alert(v) {
			return num(v) + " inside " + rng()
		}
		return num(v) + " outside " + rng()
	case v > r.End:
		return num(v) + " > " + num(r.End)
	case v < r.Start:
		return num(v) + " < " + num(r.Start)
	default:
		return num(v) + " within " + rng()
	}
}

// FormatNumber prints v in plain decimal notation, as performance data
// wants it: no exponent, no trailing zeros ("0.2", "2000", "-1.5").
// The infinite bounds of a range print as a range writes them: "~" for
// negative infinity, "" for positive. NaN prints "U", the unknown value.
func FormatNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "U"
	case math.IsInf(v, -1):
		return "~"
	case math.IsInf(v, 1):
		return ""
	}
	if v == 0 {
		return "0" // and not "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Thresholds is a check's -w and -c for one value. A nil range raises no
// alert.
type Thresholds struct {
	Warning, Critical *Range
}

// Status returns Critical when v raises the critical range's alert, else
// Warning when it raises the warning range's, else OK.
func (t Thresholds) Status(v float64) Status {
	switch {
	case t.Critical != nil && t.Critical.Alert(v):
		return Critical
	case t.Warning != nil && t.Warning.Alert(v):
		return Warning
	}
	return OK
}
