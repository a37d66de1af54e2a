package loadgen

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ReadTuneReport reads a TuneReport as TuneJSONReporter writes it.
func ReadTuneReport(rd io.Reader) (*TuneReport, error) {
	var tr TuneReport
	if err := json.NewDecoder(rd).Decode(&tr); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReport, err)
	}
	if tr.Version != TuneReportVersion {
		return nil, fmt.Errorf("%w: tune report version %d, this build reads %d", ErrBadReport, tr.Version, TuneReportVersion)
	}
	return &tr, nil
}

// TuneJSONReporter writes tr as indented JSON, the form ReadTuneReport
// reads: every run's figures and every combination's summary, durations
// as seconds.
func TuneJSONReporter(tr *TuneReport) Reporter {
	return func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(tr)
	}
}

// fmtSpread formats a spread, "1.42 [1.31–1.60]", with f formatting one
// value; missing names a run without the figure ("never"). A figure no run
// had is missing alone; one some runs lacked says how many.
func fmtSpread(sp Spread, f func(float64) string, missing string) string {
	if sp.N == 0 {
		if sp.Missing == 0 {
			return "–"
		}
		return missing
	}
	s := f(sp.Mean)
	if lo, hi := f(sp.Min), f(sp.Max); sp.N > 1 && lo != hi {
		s += " [" + lo + "–" + hi + "]"
	}
	if sp.Missing > 0 {
		s += fmt.Sprintf(", %s in %d of %d", missing, sp.Missing, sp.N+sp.Missing)
	}
	return s
}

func fmtRatio(v float64) string   { return strconv.FormatFloat(v, 'f', 2, 64) }
func fmtPercent(v float64) string { return strconv.FormatFloat(100*v, 'g', 3, 64) + "%" }
func fmtRateOf(v float64) string  { return strconv.FormatFloat(v, 'f', 1, 64) }

// fmtSecs formats a number of seconds as a duration: whole seconds from
// 10 s up, as the gauges are sampled once a second.
func fmtSecs(v float64) string {
	d := time.Duration(v * float64(time.Second))
	if d >= 10*time.Second {
		return shortDur(d.Round(time.Second))
	}
	return shortDur(d.Round(100 * time.Millisecond))
}

// tuneRow is one combination as the text and HTML reporters print it.
type tuneRow struct {
	Poll, Spread, Drain, SlowDown    string
	N                                int
	Herd, Green99, Green100, Drained string
	DeliverP99, Steady, Errors       string
	Pareto, Saturated, Recommended   bool
	Label                            string
}

func tuneRows(tr *TuneReport) []tuneRow {
	var rows []tuneRow
	for i, s := range tr.Combinations {
		poll := orDefault(s.PollInterval)
		if s.EffectivePollInterval > 0 {
			poll += "→" + shortDur(time.Duration(s.EffectivePollInterval))
		}
		errs := fmtSpread(s.Errors, fmtPercent, "none")
		if s.SteadyErrors.N > 0 {
			errs += " steady " + fmtPercent(s.SteadyErrors.Mean)
		}
		rows = append(rows, tuneRow{
			Poll: poll, Spread: orDefault(s.RecoverySpread), Drain: fmtDrain(s.DrainRate), SlowDown: fmtSlowDown(s.SlowDown),
			N:          s.Runs,
			Herd:       fmtSpread(s.HerdRatio, fmtRatio, "no steady rate"),
			Green99:    fmtSpread(s.Green99, fmtSecs, "never"),
			Green100:   fmtSpread(s.Green100, fmtSecs, "never"),
			Drained:    fmtSpread(s.Drain, fmtSecs, "never"),
			DeliverP99: fmtSpread(s.DeliverP99, fmtSecs, "none"),
			Steady:     fmtSpread(s.SteadyPer1000, fmtRateOf, "none"),
			Errors:     errs,
			Pareto:     s.Pareto, Saturated: s.Saturated > 0,
			Recommended: tr.Recommendation != nil && tr.Recommendation.Met && tr.Recommendation.Combination == i,
			Label:       s.Combination.short(tr.Swept),
		})
	}
	return rows
}

// scenarioLine describes the scenario of a sweep in one line.
func scenarioLine(tr *TuneReport) string {
	sc := tr.Scenario
	target := fmt.Sprintf("embedded cluster of %d", sc.Instances)
	if len(sc.URLs) > 0 {
		target = strings.Join(sc.URLs, ", ")
	}
	var faults []string
	faults = append(faults, sc.Outages...)
	for _, w := range sc.OutageWindows {
		faults = append(faults, "window "+w)
	}
	return fmt.Sprintf("%d clients, %s (ramp-up %s), %s, outage %s", sc.Clients, shortDur(time.Duration(sc.Duration)),
		shortDur(time.Duration(sc.RampUp)), target, strings.Join(faults, ", "))
}

// sweepLine says how many combinations and runs the sweep had.
func sweepLine(tr *TuneReport) string {
	s := fmt.Sprintf("%s × %s, seed %d", plural(len(tr.Combinations), "combination"), plural(tr.Repeat, "run"), tr.Seed)
	if !tr.Complete {
		s += fmt.Sprintf("; STOPPED EARLY after %d of %d runs: the figures are of the runs done", len(tr.Runs), len(tr.Combinations)*tr.Repeat)
	}
	return s
}

// plural says "1 run" or "3 runs".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// saturatedLine warns of the combinations whose generator was saturated,
// "" when none was.
func saturatedLine(tr *TuneReport) string {
	var names []string
	for _, s := range tr.Combinations {
		if s.Saturated > 0 {
			names = append(names, fmt.Sprintf("%s (%d of %d runs)", s.Combination, s.Saturated, s.Runs))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "WARNING: the generator was saturated in " + strings.Join(names, ", ") +
		": those figures may be its own delays, and those combinations are not recommended"
}

// recommendationLine is the recommendation in words, "" without goals.
func recommendationLine(tr *TuneReport) string {
	r := tr.Recommendation
	if r == nil {
		return ""
	}
	if r.Met {
		return "RECOMMENDED for " + strings.Join(tr.Goals, " and ") + ": " + r.Reason
	}
	return "GOAL NOT MET: " + r.Reason
}

// TuneTextReporter writes tr for a terminal: the scenario, one row per
// combination (poll interval, recovery spread, drain rate, slow-down,
// runs, then herd ratio, times to 99% and 100% Green, outbox drained,
// delivery p99, steady requests per second per 1,000 clients and errors,
// each as mean [min–max] over the runs; * marks the Pareto front, !
// a saturated generator, > the recommendation), and the recommendation.
func TuneTextReporter(tr *TuneReport) Reporter {
	return func(w io.Writer) error {
		bw := &errWriter{w: w}
		fmt.Fprintf(bw, "tune: %s\n", scenarioLine(tr))
		fmt.Fprintf(bw, "  %s\n\n", sweepLine(tr))
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\tpoll\tspread\tdrain\tslowdown\tn\therd\tgreen99\tgreen100\tdrained\tdeliver p99\treq/s per 1k\terrors\t")
		for _, r := range tuneRows(tr) {
			mark := ""
			if r.Recommended {
				mark += ">"
			}
			if r.Pareto {
				mark += "*"
			}
			if r.Saturated {
				mark += "!"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", mark, r.Poll, r.Spread, r.Drain, r.SlowDown, r.N,
				r.Herd, r.Green99, r.Green100, r.Drained, r.DeliverP99, r.Steady, r.Errors)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(bw, "\n  mean [min–max] over the runs; herd = peak 1 s rate after recovery ÷ steady rate before the outage;")
		fmt.Fprintln(bw, "  times from the outage's end; * Pareto front of herd against green99 (means), ! generator saturated, > recommended")
		if line := saturatedLine(tr); line != "" {
			fmt.Fprintln(bw, "\n"+line)
		}
		if line := recommendationLine(tr); line != "" {
			fmt.Fprintln(bw, "\n"+line)
			fmt.Fprintln(bw, "  (goals are checked against the worst run of each combination, not the mean)")
		}
		return bw.err
	}
}

// errWriter keeps the first error of a series of writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// Scatter geometry, in SVG user units.
const (
	scatterW  = 960
	scatterH  = 480
	scatterL  = 70
	scatterT  = 30
	scatterR  = 30
	scatterB  = 50
	scatterPW = scatterW - scatterL - scatterR
	scatterPH = scatterH - scatterT - scatterB
)

type tuneHTMLData struct {
	Title, Scenario, Sweep, Saturated, Command string
	Recommendation                             string
	Met                                        bool
	Goals                                      string
	Rows                                       []tuneRow
	Chart                                      *scatterChart
	NotDrawn                                   []string
}

type scatterChart struct {
	W, H, X, Y, PW, PH int
	XTicks, YTicks     []svgTick
	Front              string // path through the Pareto front
	Points             []scatterPoint
	Bounds             []scatterBound
	XLabel, YLabel     string
}

type scatterPoint struct {
	X, Y                float64 // centre
	X0, X1, Y0, Y1      float64 // min–max whiskers
	Label, Title        string
	Pareto, Recommended bool
	Saturated           bool
}

// scatterBound is a goal's limit drawn across the chart.
type scatterBound struct {
	X1, Y1, X2, Y2 float64
	Label          string
}

// scatterOf draws herd ratio (y) against time to 99% Green (x), one point
// per combination with both figures in every run, whiskers over the runs'
// min–max; notDrawn names the others.
func scatterOf(tr *TuneReport) (c *scatterChart, notDrawn []string) {
	c = &scatterChart{W: scatterW, H: scatterH, X: scatterL, Y: scatterT, PW: scatterPW, PH: scatterPH,
		XLabel: "time to 99% Green after the outage", YLabel: "herd ratio (peak ÷ steady)"}
	var drawn []int
	xmax, ymin, ymax := 0.0, math.Inf(1), math.Inf(-1)
	for i, s := range tr.Combinations {
		if !s.HerdRatio.complete() || !s.Green99.complete() {
			why := "no runs"
			switch {
			case s.Runs == 0:
			case !s.Green99.complete():
				why = fmt.Sprintf("never 99%% Green in %d of %d runs", s.Green99.Missing, s.Runs)
			default:
				why = fmt.Sprintf("no steady rate in %d of %d runs", s.HerdRatio.Missing, s.Runs)
			}
			notDrawn = append(notDrawn, s.Combination.String()+": "+why)
			continue
		}
		drawn = append(drawn, i)
		xmax = max(xmax, s.Green99.Max)
		ymin, ymax = min(ymin, s.HerdRatio.Min), max(ymax, s.HerdRatio.Max)
	}
	var goalX, goalY []scatterBound
	for _, g := range tr.Goals {
		t, err := ParseGoal(g)
		if err != nil {
			continue
		}
		switch t.Metric {
		case "herd":
			ymin, ymax = min(ymin, t.Limit), max(ymax, t.Limit)
			goalY = append(goalY, scatterBound{Y1: t.Limit, Label: g})
		case "green99":
			xmax = max(xmax, t.Limit)
			goalX = append(goalX, scatterBound{X1: t.Limit, Label: g})
		}
	}
	if len(drawn) == 0 {
		return nil, notDrawn
	}
	xstep := niceStep(max(xmax, 1) / 6)
	xhi := math.Max(xstep, math.Ceil(xmax/xstep)*xstep)
	ystep := niceStep(max(ymax-ymin, 0.1) / 5)
	ylo := math.Max(0, math.Floor(ymin/ystep)*ystep-ystep)
	yhi := math.Ceil(ymax/ystep)*ystep + ystep
	xOf := func(v float64) float64 { return v / xhi * scatterPW }
	yOf := func(v float64) float64 { return scatterPH - (v-ylo)/(yhi-ylo)*scatterPH }
	for v := 0.0; v <= xhi+xstep/2; v += xstep {
		c.XTicks = append(c.XTicks, svgTick{xOf(v), fmtSecs(v)})
	}
	for v := ylo; v <= yhi+ystep/2; v += ystep {
		c.YTicks = append(c.YTicks, svgTick{yOf(v), strconv.FormatFloat(v, 'f', -1, 64)})
	}
	rec := -1
	if r := tr.Recommendation; r != nil && r.Met {
		rec = r.Combination
	}
	type fp struct{ x, y float64 }
	var front []fp
	for _, i := range drawn {
		s := tr.Combinations[i]
		p := scatterPoint{X: xOf(s.Green99.Mean), Y: yOf(s.HerdRatio.Mean),
			X0: xOf(s.Green99.Min), X1: xOf(s.Green99.Max), Y0: yOf(s.HerdRatio.Min), Y1: yOf(s.HerdRatio.Max),
			Label: s.Combination.short(tr.Swept), Pareto: s.Pareto, Recommended: i == rec, Saturated: s.Saturated > 0,
			Title: fmt.Sprintf("%s: herd %s, green99 %s", s.Combination, fmtSpread(s.HerdRatio, fmtRatio, ""), fmtSpread(s.Green99, fmtSecs, ""))}
		c.Points = append(c.Points, p)
		if s.Pareto {
			front = append(front, fp{p.X, p.Y})
		}
	}
	slices.SortFunc(front, func(a, b fp) int { return cmpFloat(a.x, b.x) })
	var b strings.Builder
	for i, p := range front {
		if i == 0 {
			b.WriteString("M")
		} else {
			b.WriteString(" L")
		}
		fmt.Fprintf(&b, "%.1f %.1f", p.x, p.y)
	}
	c.Front = b.String()
	for _, g := range goalY {
		c.Bounds = append(c.Bounds, scatterBound{X1: 0, X2: scatterPW, Y1: yOf(g.Y1), Y2: yOf(g.Y1), Label: g.Label})
	}
	for _, g := range goalX {
		c.Bounds = append(c.Bounds, scatterBound{X1: xOf(g.X1), X2: xOf(g.X1), Y1: 0, Y2: scatterPH, Label: g.Label})
	}
	return c, notDrawn
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TuneHTMLReporter writes tr as one self-contained HTML page that opens
// with no network: the scenario, the trade-off drawn in SVG (herd ratio
// against time to 99% Green, one point per combination with whiskers over
// its runs, the Pareto front joined, the goals' bounds and the
// recommendation marked), the recommendation in words and the table of the
// text reporter. Every string is escaped by html/template.
func TuneHTMLReporter(tr *TuneReport) Reporter {
	return func(w io.Writer) error {
		t, err := template.New("tune").Parse(tunePage)
		if err != nil {
			return err
		}
		d := &tuneHTMLData{
			Title:          "regfleet tune " + tr.Start.UTC().Format("2006-01-02 15:04:05 MST"),
			Scenario:       scenarioLine(tr),
			Sweep:          sweepLine(tr),
			Saturated:      saturatedLine(tr),
			Command:        strings.Join(tr.Scenario.CommandLine, " "),
			Recommendation: recommendationLine(tr),
			Met:            tr.Recommendation != nil && tr.Recommendation.Met,
			Goals:          strings.Join(tr.Goals, " and "),
			Rows:           tuneRows(tr),
		}
		d.Chart, d.NotDrawn = scatterOf(tr)
		return t.Execute(w, d)
	}
}

// tunePage is the template of TuneHTMLReporter.
const tunePage = pageHead + `body { max-width: 1100px; }
td, th { padding: .2em .6em; white-space: nowrap; }
tr.recommended td { background: #e6f4ea; font-weight: 600; }
.ok { background: #e6f4ea; border-left: 4px solid #2ca02c; padding: .5em .8em; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<table class="kv">
<tr><td>scenario</td><td>{{.Scenario}}</td></tr>
<tr><td>sweep</td><td>{{.Sweep}}</td></tr>
{{- with .Command}}<tr><td>command</td><td><code>{{.}}</code></td></tr>{{end}}
</table>
{{with .Saturated}}<p class="warn warning">{{.}}</p>{{end}}
{{with .Recommendation}}<p id="recommendation" class="{{if $.Met}}ok{{else}}warn{{end}}">{{.}}<br><small>Goals are checked against the worst run of each combination, not the mean.</small></p>{{end}}

<h2>Trade-off: herd ratio against time to 99% Green</h2>
{{with .Chart}}
<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {{.W}} {{.H}}" font-family="sans-serif" font-size="12" role="img" aria-label="herd ratio against time to 99% Green">
<g transform="translate({{.X}},{{.Y}})">
{{range .YTicks}}<line class="grid" stroke="#e4e4e4" x1="0" x2="{{$.Chart.PW}}" y1="{{.Pos}}" y2="{{.Pos}}"/><text x="-6" y="{{.Pos}}" text-anchor="end" dominant-baseline="middle">{{.Label}}</text>{{end}}
{{range .XTicks}}<line class="grid" stroke="#e4e4e4" x1="{{.Pos}}" x2="{{.Pos}}" y1="0" y2="{{$.Chart.PH}}"/><text x="{{.Pos}}" y="{{$.Chart.PH}}" dy="16" text-anchor="middle">{{.Label}}</text>{{end}}
<line class="axis" stroke="#888" x1="0" x2="0" y1="0" y2="{{.PH}}"/><line class="axis" stroke="#888" x1="0" x2="{{.PW}}" y1="{{.PH}}" y2="{{.PH}}"/>
{{range .Bounds}}<line class="bound" stroke="#d62728" stroke-dasharray="6 4" x1="{{.X1}}" x2="{{.X2}}" y1="{{.Y1}}" y2="{{.Y2}}"/><text x="{{.X2}}" y="{{.Y1}}" dx="-4" dy="-4" text-anchor="end" fill="#d62728">{{.Label}}</text>{{end}}
{{with .Front}}<path class="pareto" fill="none" stroke="#ff7f0e" stroke-width="2" d="{{.}}"><title>Pareto front</title></path>{{end}}
{{range .Points}}<g class="point{{if .Pareto}} pareto{{end}}{{if .Recommended}} recommended{{end}}">
<title>{{.Title}}</title>
<line stroke="#999" x1="{{.X0}}" x2="{{.X1}}" y1="{{.Y}}" y2="{{.Y}}"/><line stroke="#999" x1="{{.X}}" x2="{{.X}}" y1="{{.Y0}}" y2="{{.Y1}}"/>
{{if .Recommended}}<circle cx="{{.X}}" cy="{{.Y}}" r="11" fill="none" stroke="#2ca02c" stroke-width="3"/>{{end}}
<circle cx="{{.X}}" cy="{{.Y}}" r="5" fill="{{if .Pareto}}#ff7f0e{{else}}#fff{{end}}" stroke="{{if .Saturated}}#d62728{{else}}#1f77b4{{end}}" stroke-width="2"/>
<text x="{{.X}}" y="{{.Y}}" dx="9" dy="-8">{{.Label}}{{if .Recommended}} (recommended){{end}}{{if .Saturated}} !{{end}}</text>
</g>
{{end}}</g>
<text x="{{.X}}" y="18">{{.YLabel}}</text>
<text x="{{.W}}" y="{{.H}}" dx="-30" dy="-8" text-anchor="end">{{.XLabel}}</text>
</svg>
<p>Each point is a combination's mean over its runs, the whiskers its runs' min–max; filled points are on the Pareto front (no other combination has both a lower herd ratio and a faster recovery), joined by the orange line; red outlines mark a saturated generator.</p>
{{else}}<p>No combination had both figures in every run.</p>{{end}}
{{with .NotDrawn}}<p>Not drawn:</p><ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}

<h2>Combinations</h2>
<p>Mean [min–max] over the runs; times from the outage's end; herd ratio = peak 1 s rate after recovery ÷ steady rate before the outage.</p>
<table><tr><th>poll</th><th>spread</th><th>drain</th><th>slow-down</th><th>n</th><th>herd</th><th>green99</th><th>green100</th><th>drained</th><th>deliver p99</th><th>req/s per 1k</th><th>errors</th><th>front</th><th>saturated</th></tr>
{{range .Rows}}<tr{{if .Recommended}} class="recommended"{{end}}><td>{{.Poll}}</td><td>{{.Spread}}</td><td>{{.Drain}}</td><td>{{.SlowDown}}</td><td>{{.N}}</td><td>{{.Herd}}</td><td>{{.Green99}}</td><td>{{.Green100}}</td><td>{{.Drained}}</td><td>{{.DeliverP99}}</td><td>{{.Steady}}</td><td>{{.Errors}}</td><td>{{if .Pareto}}★{{end}}</td><td>{{if .Saturated}}!{{end}}</td></tr>
{{end}}</table>
</body>
</html>
`
