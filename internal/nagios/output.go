package nagios

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Output is a plugin's standard output as a monitoring system reads it: the
// first line's text and performance data, and the long text of the lines
// after it. In Nagios 3 style the long text may carry more performance data
// after a "|" of its own.
type Output struct {
	Summary string   // the first line up to its "|", without trailing spaces
	Long    []string // the lines after the first, up to a "|" in them
	Perf    []Perf   // every value of performance data, in order
}

// ErrOutput reports output that a monitoring system would misread; the
// errors of ParseOutput wrap it.
var ErrOutput = errors.New("bad plugin output")

// knownUOM are the units of measure of the guidelines.
var knownUOM = map[string]bool{"": true, "s": true, "ms": true, "us": true, "%": true, "B": true, "KB": true, "MB": true, "TB": true, "c": true}

// ParseOutput reads out as a monitoring system would and checks its format:
// a non-empty first line, and performance data of the form
// 'label'=value[UOM];[warn];[crit];[min];[max] with a known unit, a number in
// plain decimal notation or "U", ranges that ParseRange takes, and numbers
// for min and max. Errors wrap ErrOutput.
func ParseOutput(out string) (Output, error) {
	var o Output
	out = strings.TrimRight(out, "\n")
	first, rest, _ := strings.Cut(out, "\n")
	summary, perf, _ := strings.Cut(first, "|")
	o.Summary = strings.TrimRight(summary, " ")
	if strings.TrimSpace(o.Summary) == "" {
		return o, fmt.Errorf("%w: empty first line", ErrOutput)
	}
	perfs, err := parsePerfData(perf)
	if err != nil {
		return o, err
	}
	o.Perf = perfs
	if rest != "" {
		long, more, _ := strings.Cut(rest, "|")
		o.Long = strings.Split(strings.TrimRight(long, "\n "), "\n")
		perfs, err := parsePerfData(strings.ReplaceAll(more, "\n", " "))
		if err != nil {
			return o, fmt.Errorf("long text: %w", err)
		}
		o.Perf = append(o.Perf, perfs...)
	}
	return o, nil
}

// Lookup returns the value labelled label and whether there is one.
func (o Output) Lookup(label string) (Perf, bool) {
	for _, p := range o.Perf {
		if p.Label == label {
			return p, true
		}
	}
	return Perf{}, false
}

func parsePerfData(s string) ([]Perf, error) {
	var perfs []Perf
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return perfs, nil
		}
		var label string
		if s[0] == '\'' {
			var b strings.Builder
			i := 1
			for ; ; i++ {
				if i >= len(s) {
					return nil, fmt.Errorf("%w: unterminated quoted label in %q", ErrOutput, s)
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i++
						continue
					}
					break
				}
				b.WriteByte(s[i])
			}
			label, s = b.String(), s[i+1:]
			if !strings.HasPrefix(s, "=") {
				return nil, fmt.Errorf("%w: no \"=\" after label '%s'", ErrOutput, label)
			}
			s = s[1:]
		} else {
			eq := strings.IndexByte(s, '=')
			if eq < 0 {
				return nil, fmt.Errorf("%w: no \"=\" in %q", ErrOutput, s)
			}
			label, s = s[:eq], s[eq+1:]
			if strings.ContainsAny(label, " '") {
				return nil, fmt.Errorf("%w: label %q has a space or quote and is not quoted", ErrOutput, label)
			}
		}
		if strings.TrimSpace(label) == "" || strings.ContainsAny(label, "=") {
			return nil, fmt.Errorf("%w: bad label %q", ErrOutput, label)
		}
		item, tail, _ := strings.Cut(s, " ")
		s = tail
		p, err := parsePerfValue(label, item)
		if err != nil {
			return nil, err
		}
		perfs = append(perfs, p)
	}
}

func parsePerfValue(label, item string) (Perf, error) {
	p := Perf{Label: label}
	bad := func(format string, args ...any) (Perf, error) {
		return p, fmt.Errorf("%w: %s=%s: %s", ErrOutput, label, item, fmt.Sprintf(format, args...))
	}
	fields := strings.Split(item, ";")
	if len(fields) > 5 {
		return bad("more than value;warn;crit;min;max")
	}
	v := fields[0]
	if v == "U" {
		p.Unknown = true
	} else {
		end := 0
		for end < len(v) && strings.IndexByte("+-.0123456789", v[end]) >= 0 {
			end++
		}
		num, err := parseNumber(v[:end])
		if err != nil {
			return bad("value: %v", err)
		}
		p.Value, p.UOM = num, v[end:]
		if !knownUOM[p.UOM] {
			return bad("unit %q is not one of the guidelines' (s, ms, us, %%, B, KB, MB, TB, c)", p.UOM)
		}
	}
	for i, f := range fields[1:] {
		if f == "" {
			continue
		}
		switch i {
		case 0, 1:
			r, err := ParseRange(f)
			if err != nil {
				return bad("%v", err)
			}
			if i == 0 {
				p.Warn = &r
			} else {
				p.Crit = &r
			}
		case 2, 3:
			n, err := parseNumber(f)
			if err != nil || math.IsNaN(n) {
				return bad("min/max: %v", err)
			}
			if i == 2 {
				p.Min = &n
			} else {
				p.Max = &n
			}
		}
	}
	return p, nil
}
