package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/regfleet/regfleet/internal/nagios"
)

// serviceName starts the status line: "REGSERVER OK - …".
const serviceName = "REGSERVER"

// report is the plugin's verdict and output.
type report struct {
	status nagios.Status
	text   string        // the first line, before " | "
	perf   []nagios.Perf // after it
	long   []string      // one line per endpoint
}

// String returns the whole output: the status line with its performance
// data, then the long text.
func (r report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s - %s", serviceName, r.status, r.text)
	if len(r.perf) > 0 {
		b.WriteString(" | ")
		b.WriteString(nagios.FormatPerf(r.perf))
	}
	b.WriteByte('\n')
	for _, l := range r.long {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// unknownReport is the output for a check that could not run: one line.
func unknownReport(err error) report {
	return report{status: nagios.Unknown, text: clean(err.Error())}
}

// ms returns d in milliseconds rounded to the microsecond: the value the
// thresholds see and the output prints.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

func fmtMS(d time.Duration) string { return nagios.FormatNumber(ms(d)) + " ms" }

// summarize turns the results into the report. svc is the service's result
// in service mode, nil otherwise; results are the endpoints' (the
// instances' in service mode).
func summarize(c *config, svc *result, results []result) report {
	var rep report
	n := len(results)
	var upN, downN, unknownN int
	for _, r := range results {
		switch r.outcome {
		case up:
			upN++
		case down:
			downN++
		default:
			unknownN++
		}
	}
	critDown := c.critDown
	if critDown == 0 {
		critDown = n
	}
	st := nagios.OK
	switch {
	case downN >= critDown:
		st = nagios.Critical
	case c.warnDown > 0 && downN >= c.warnDown:
		st = nagios.Warning
	}
	if unknownN > 0 {
		st = nagios.Worst(st, nagios.Unknown)
	}

	// The slowest round trip against -w and -c, over every endpoint up.
	all := results
	if svc != nil {
		all = append([]result{*svc}, results...)
	}
	var slow *result
	slowSt := nagios.OK
	for i := range all {
		r := &all[i]
		if r.outcome != up {
			continue
		}
		if s := c.latency.Status(ms(r.latency)); slow == nil || s.Worse(slowSt) || (s == slowSt && r.latency > slow.latency) {
			slow, slowSt = r, s
		}
	}
	st = nagios.Worst(st, slowSt)

	// upText is an endpoint's text when it is up: its round trip, against
	// the threshold it breaks if it is the slowest.
	upText := func(r *result) string {
		if slow != nil && slowSt != nagios.OK && r.url == slow.url {
			return "round trip " + thresholdText(c, slowSt, ms(r.latency))
		}
		return "up, round trip " + fmtMS(r.latency)
	}
	var parts []string
	noun := "endpoints"
	if svc != nil {
		noun = "instances"
		switch svc.outcome {
		case up:
			parts = append(parts, "service "+upText(svc))
		case down:
			st = nagios.Critical
			parts = append(parts, "service down: "+svc.reason)
		default:
			st = nagios.Worst(st, nagios.Unknown)
			parts = append(parts, "service: "+svc.reason)
		}
	}
	switch {
	case svc == nil && n == 1 && results[0].outcome == up:
		parts = append(parts, results[0].name()+" "+upText(&results[0]))
	case svc == nil && n == 1:
		parts = append(parts, results[0].name()+": "+results[0].reason)
	default:
		counts := fmt.Sprintf("%d/%d %s up", upN, n, noun)
		groups := groupReasons(results)
		switch {
		case len(groups) == 1 && upN == 0 && svc != nil && svc.outcome != up && groups[0].reason == svc.reason:
			parts = append(parts, counts+", the same")
		case len(groups) == 1 && upN == 0:
			parts = append(parts, counts+": "+groups[0].reason)
		default:
			parts = append(parts, counts)
			for _, g := range groups {
				parts = append(parts, strings.Join(g.names, ", ")+": "+g.reason)
			}
		}
		if slowSt != nagios.OK && slow.role != "service" {
			parts = append(parts, "slowest round trip "+thresholdText(c, slowSt, ms(slow.latency))+" at "+slow.name())
		}
	}
	rep.status = st
	rep.text = strings.Join(parts, "; ")

	// Performance data.
	maxMS := ms(c.timeout)
	timePerf := func(label string, r result) nagios.Perf {
		p := nagios.Perf{Label: label, UOM: "ms", Warn: c.latency.Warning, Crit: c.latency.Critical, Min: ptr(0.0), Max: ptr(maxMS)}
		if r.outcome == up {
			p.Value = ms(r.latency)
		} else {
			p.Unknown = true
		}
		return p
	}
	// up is unknown when the check could not tell for an endpoint.
	upPerf := nagios.Perf{Label: "up", Value: float64(upN), Unknown: unknownN > 0, Min: ptr(0.0), Max: ptr(float64(n))}
	// WARNING from warnDown down is "up below n-warnDown+1".
	if c.warnDown > 0 && c.warnDown <= n {
		upPerf.Warn = &nagios.Range{Start: float64(n - c.warnDown + 1), End: math.Inf(1)}
	}
	if critDown <= n {
		upPerf.Crit = &nagios.Range{Start: float64(n - critDown + 1), End: math.Inf(1)}
	}
	switch {
	case svc != nil:
		rep.perf = append(rep.perf, timePerf("time", *svc), upPerf)
	case n == 1:
		rep.perf = append(rep.perf, timePerf("time", results[0]), upPerf)
	default:
		rep.perf = append(rep.perf, upPerf)
	}
	if svc != nil || n > 1 {
		for _, r := range results {
			rep.perf = append(rep.perf, timePerf(r.label+" time", r))
		}
	}

	// Long text: one line per endpoint.
	for _, r := range all {
		if r.outcome == up {
			rep.long = append(rep.long, fmt.Sprintf("%s: up, %s", r.name(), fmtMS(r.latency)))
		} else {
			rep.long = append(rep.long, fmt.Sprintf("%s: %s: %s", r.name(), r.outcome, r.reason))
		}
	}
	return rep
}

// thresholdText says which threshold v breaks: "712 ms > 500 ms (-w)".
func thresholdText(c *config, st nagios.Status, v float64) string {
	if st == nagios.Critical {
		return c.latency.Critical.Describe(v, "ms") + " (-c)"
	}
	return c.latency.Warning.Describe(v, "ms") + " (-w)"
}

type reasonGroup struct {
	reason string
	names  []string
}

// groupReasons gathers the endpoints that are not up by reason, in order.
func groupReasons(results []result) []reasonGroup {
	var groups []reasonGroup
	index := map[string]int{}
	for _, r := range results {
		if r.outcome == up {
			continue
		}
		i, ok := index[r.reason]
		if !ok {
			i = len(groups)
			index[r.reason] = i
			groups = append(groups, reasonGroup{reason: r.reason})
		}
		groups[i].names = append(groups[i].names, redact(r.url))
	}
	return groups
}

func ptr[T any](v T) *T { return &v }
