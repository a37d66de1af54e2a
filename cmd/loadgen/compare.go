package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/regfleet/regfleet/loadgen"
)

// runCompare lines two saved runs up figure by figure.
func runCompare(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("compare")
	if err := parse(fs, "compare", args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageError{fmt.Errorf("compare: name two reports (JSON files written with --out or by merge), not %d", fs.NArg())}
	}
	var rs [2]*loadgen.Report
	for i, path := range fs.Args() {
		r, err := readReport(path)
		if err != nil {
			return usageError{fmt.Errorf("compare: %w", err)}
		}
		rs[i] = r
	}
	return writeComparison(stdout, rs[0], rs[1])
}

// kind is how a figure of a comparison is formatted, and its change.
type kind int

const (
	kindRate     kind = iota + 1 // per second
	kindShare                    // a fraction, shown as a percentage; its change in points
	kindDuration                 // seconds
	kindCount                    // a whole number
	kindRatio                    // a plain number: herd ratio
	kindMicros                   // microseconds
)

// value is one side of a figure: v, or why there is none.
type value struct {
	v    float64
	ok   bool
	none string // shown instead when !ok
}

func some(v float64) value         { return value{v: v, ok: true} }
func none(why string) value        { return value{none: why} }
func dur(d loadgen.Duration) value { return some(d.Seconds()) }

// figure is one line of a comparison.
type figure struct {
	name string
	kind kind
	a, b value
}

func (k kind) format(v value) string {
	if !v.ok {
		return v.none
	}
	switch k {
	case kindRate:
		return strconv.FormatFloat(v.v, 'f', 1, 64) + "/s"
	case kindShare:
		return strconv.FormatFloat(100*v.v, 'f', 2, 64) + "%"
	case kindDuration:
		return fmtSeconds(v.v)
	case kindCount:
		return strconv.FormatFloat(v.v, 'f', 0, 64)
	case kindMicros:
		return strconv.FormatFloat(v.v, 'f', 1, 64) + " µs"
	default:
		return strconv.FormatFloat(v.v, 'f', 2, 64)
	}
}

// fmtSeconds formats seconds as a duration of 4 significant digits
// ("1.072s", "110.6ms").
func fmtSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	r := time.Duration(1)
	for d >= 10_000*r && r < time.Second {
		r *= 10
	}
	return d.Round(r).String()
}

// change says how b differs from a: in percentage points for shares, else
// relatively; "=" when equal, "–" when one is missing.
func (f figure) change() string {
	a, b := f.a, f.b
	switch {
	case !a.ok || !b.ok:
		return "–"
	case a.v == b.v:
		return "="
	case f.kind == kindShare:
		return fmt.Sprintf("%+.2f pp", 100*(b.v-a.v))
	case a.v == 0:
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", 100*(b.v-a.v)/math.Abs(a.v))
}

// comparison returns the figures of reports a and b, in the order they are
// printed.
func comparison(a, b *loadgen.Report) []figure {
	var out []figure
	both := func(name string, k kind, get func(r *loadgen.Report) value) {
		out = append(out, figure{name, k, get(a), get(b)})
	}
	both("rps", kindRate, func(r *loadgen.Report) value { return some(r.Rate()) })
	both("requests", kindCount, func(r *loadgen.Report) value { return some(float64(r.Requests)) })
	both("errors", kindShare, func(r *loadgen.Report) value {
		if r.Requests == 0 {
			return none("no requests")
		}
		return some(r.ErrorRatio())
	})
	latencies := func(label string, get func(r *loadgen.Report) (loadgen.Latency, bool)) {
		for _, q := range []struct {
			name string
			of   func(l loadgen.Latency) loadgen.Duration
		}{
			{"p50", func(l loadgen.Latency) loadgen.Duration { return l.P50 }},
			{"p99", func(l loadgen.Latency) loadgen.Duration { return l.P99 }},
			{"p99.9", func(l loadgen.Latency) loadgen.Duration { return l.P999 }},
		} {
			both(q.name+label, kindDuration, func(r *loadgen.Report) value {
				l, ok := get(r)
				switch {
				case !ok:
					return none("absent")
				case l.Count == 0:
					return none("none recorded")
				}
				return dur(q.of(l))
			})
		}
	}
	latencies("", func(r *loadgen.Report) (loadgen.Latency, bool) { return r.Total, true })
	for _, set := range []func(r *loadgen.Report) map[string]*loadgen.CommandStats{
		func(r *loadgen.Report) map[string]*loadgen.CommandStats { return r.Commands },
		func(r *loadgen.Report) map[string]*loadgen.CommandStats { return r.Operations },
	} {
		names := slices.Sorted(maps.Keys(set(a)))
		for name := range set(b) {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			latencies("{"+name+"}", func(r *loadgen.Report) (loadgen.Latency, bool) {
				c := set(r)[name]
				if c == nil {
					return loadgen.Latency{}, false
				}
				return c.Latency, true
			})
		}
	}
	both("schedule lag p99", kindDuration, func(r *loadgen.Report) value {
		if r.Schedule.Lag.Count == 0 {
			return none("none recorded")
		}
		return dur(r.Schedule.Lag.P99)
	})
	for _, d := range []struct {
		name string
		of   func(d *loadgen.Delivery) int64
	}{
		{"accepted", func(d *loadgen.Delivery) int64 { return d.Accepted }},
		{"lost", func(d *loadgen.Delivery) int64 { return d.Lost }},
		{"pending", func(d *loadgen.Delivery) int64 { return d.Pending }},
	} {
		both(d.name, kindCount, func(r *loadgen.Report) value {
			if r.Delivery == nil {
				return none("not counted")
			}
			return some(float64(d.of(r.Delivery)))
		})
	}
	for _, o := range matchOutages(a, b) {
		label := " [" + o.name + "]"
		out = append(out,
			figure{"green99" + label, kindDuration, o.green99(o.a), o.green99(o.b)},
			figure{"herd" + label, kindRatio, o.herd(o.a), o.herd(o.b)},
			figure{"drain" + label, kindDuration, o.drain(o.a), o.drain(o.b)})
	}
	generator := func(get func(g *loadgen.GeneratorStats) value) func(r *loadgen.Report) value {
		return func(r *loadgen.Report) value {
			if r.Generator == nil || !r.Generator.Measured {
				return none("not measured")
			}
			return get(r.Generator)
		}
	}
	both("cpu_share", kindShare, generator(func(g *loadgen.GeneratorStats) value { return some(g.CPUShare) }))
	both("cpu_per_request_us", kindMicros, generator(func(g *loadgen.GeneratorStats) value {
		if g.CPUPerRequestUs == 0 {
			return none("no requests counted")
		}
		return some(g.CPUPerRequestUs)
	}))
	return out
}

// outagePair is an outage of a, b or both, matched by name (the k-th
// outage of a name in a with the k-th of that name in b).
type outagePair struct {
	name string
	a, b *loadgen.OutageFigures
}

func (outagePair) green99(o *loadgen.OutageFigures) value {
	switch {
	case o == nil:
		return none("absent")
	case o.Green99 == nil:
		return none("not reached")
	}
	return dur(*o.Green99)
}

func (outagePair) herd(o *loadgen.OutageFigures) value {
	switch {
	case o == nil:
		return none("absent")
	case o.SteadyRate == 0:
		return none("no steady rate")
	}
	return some(o.HerdRatio)
}

func (outagePair) drain(o *loadgen.OutageFigures) value {
	switch {
	case o == nil:
		return none("absent")
	case o.Drain == nil:
		return none("not drained")
	}
	return dur(*o.Drain)
}

// matchOutages pairs the outages of a and b by name, in a's order, then
// those of b only.
func matchOutages(a, b *loadgen.Report) []outagePair {
	var out []outagePair
	used := make([]bool, len(b.Outages))
	for i := range a.Outages {
		p := outagePair{name: a.Outages[i].Outage, a: &a.Outages[i]}
		for j := range b.Outages {
			if !used[j] && b.Outages[j].Outage == p.name {
				used[j], p.b = true, &b.Outages[j]
				break
			}
		}
		out = append(out, p)
	}
	for j := range b.Outages {
		if !used[j] {
			out = append(out, outagePair{name: b.Outages[j].Outage, b: &b.Outages[j]})
		}
	}
	return out
}

// writeComparison writes the runs compared, how their configurations
// differ, and the table of figures.
func writeComparison(w io.Writer, a, b *loadgen.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, side := range []struct {
		label string
		r     *loadgen.Report
	}{{"a", a}, {"b", b}} {
		r := side.r
		fmt.Fprintf(tw, "%s\t%s\t%s  elapsed %s  clients %d\n", side.label, r.Source,
			r.Start.UTC().Format("2006-01-02 15:04:05 MST"), r.Elapsed().Round(time.Millisecond), r.Config.Clients)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if diffs := loadgen.ConfigDiff(a.Config, b.Config); len(diffs) == 0 {
		fmt.Fprintln(w, "\nConfigurations: the same")
	} else {
		fmt.Fprintf(w, "\nConfigurations differ in %d fields:\n", len(diffs))
		for _, d := range diffs {
			fmt.Fprintf(tw, "  %s\t%s\t→ %s\n", d.Field, d.A, d.B)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "figure\ta\tb\tchange")
	for _, f := range comparison(a, b) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.name, f.kind.format(f.a), f.kind.format(f.b), f.change())
	}
	return tw.Flush()
}
