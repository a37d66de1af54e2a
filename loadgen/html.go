package loadgen

import (
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HTMLReporter writes r as one self-contained HTML page that opens with no
// network: the summary, inline SVG charts drawn here (latency percentiles
// p50/p90/p99/max over time on a log scale, request rate, Green and Red
// clients, outbox depth, each with the outage windows shaded) and the
// tables of the text summary. Every string from the report is escaped by
// html/template.
func HTMLReporter(r *Report) Reporter {
	return func(w io.Writer) error {
		t, err := template.New("report").Parse(htmlPage)
		if err != nil {
			return err
		}
		return t.Execute(w, newHTMLData(r))
	}
}

// Chart geometry, in SVG user units.
const (
	chartW     = 960
	chartH     = 260
	plotLeft   = 70
	plotRight  = 20
	plotTop    = 30
	plotBottom = 40
	plotW      = chartW - plotLeft - plotRight
	plotH      = chartH - plotTop - plotBottom
)

type htmlData struct {
	R        *Report
	Merged   string   // "merged from 1 of 2 shards", "" for one process
	Partial  string   // "partial: shard 1/2 missing", "" when complete
	Warnings []string // Report.Warnings: a saturated generator, clients that never started, …
	Settings string   // the clients' poll and recovery settings
	Command  string   // the command line
	Gen      []kv     // the generator's self-measurement
	Setup    []kv     // the clients' starts
	Title    string
	Target   string
	Model    string
	Elapsed  string
	ErrPct   string
	Total    []kv
	Schedule []kv
	Commands []htmlCommand
	Ops      []htmlCommand // user operations
	Classes  []kv
	Eps      []htmlEndpoint
	Outages  []htmlOutage
	Split    string // errors of the steady state and of the outages
	Delivery []kv
	Charts   []*svgChart
}

type kv struct{ K, V string }

type htmlCommand struct {
	Name                              string
	Requests, Errors                  int64
	P50, P90, P99, P999, Max, ErrRate string
}

type htmlEndpoint struct {
	URL                        string
	Requests, Errors, Attempts int64
}

type htmlOutage struct {
	Name, Window, Red, Green, Load, Herd, Outbox, Drain string
}

type svgChart struct {
	Title  string
	W, H   int
	X, Y   int // plot origin (top left)
	PW, PH int // plot size
	Shades []svgRect
	Lines  []svgLine
	XTicks []svgTick
	YTicks []svgTick
	YLabel string
	Empty  bool
}

type svgRect struct{ X, W float64 }

type svgLine struct {
	Name, Color string
	D           string // path data
	LegendX     int
}

type svgTick struct {
	Pos   float64
	Label string
}

func newHTMLData(r *Report) *htmlData {
	d := &htmlData{
		R:       r,
		Title:   "regfleet load report " + r.Start.UTC().Format("2006-01-02 15:04:05 MST"),
		Target:  "embedded cluster",
		Model:   modelOf(r.Config),
		Elapsed: fmtDur(r.Elapsed()),
		ErrPct:  pct(r.Errors, r.Requests),
	}
	if len(r.Config.URLs) > 0 {
		d.Target = strings.Join(r.Config.URLs, ", ")
	}
	if len(r.Shards) > 0 {
		d.Merged = mergedFrom(r)
	}
	if r.Partial() {
		d.Partial = partialLine(r)
	}
	d.Warnings = r.Warnings()
	d.Settings = settingsLine(r.Config)
	d.Command = strings.Join(r.Config.CommandLine, " ")
	if g := r.Generator; g != nil {
		d.Gen = []kv{{"generator", generatorLine(g)}}
	}
	if st := r.Setup; st != nil {
		d.Setup = []kv{{"clients started", setupLine(st)}}
		for _, f := range st.Failures {
			d.Setup = append(d.Setup, kv{itoa(f.Count) + " ×", f.String()})
		}
	}
	l := r.Total
	dur := func(v Duration) string { return fmtDur(time.Duration(v)) }
	d.Total = []kv{{"min", dur(l.Min)}, {"mean", dur(l.Mean)}, {"p50", dur(l.P50)}, {"p90", dur(l.P90)},
		{"p95", dur(l.P95)}, {"p99", dur(l.P99)}, {"p99.9", dur(l.P999)}, {"max", dur(l.Max)}}
	s := r.Schedule
	offered, missed := scheduleCounts(r)
	d.Schedule = []kv{{"offered", offered}, {"sent", itoa(s.Sent)},
		{"late (>" + dur(s.Tolerance) + ")", itoa(s.Late)}, {"missed", missed},
		{"lag p99", dur(s.Lag.P99)}, {"lag max", dur(s.Lag.Max)}}
	row := func(name string, c *CommandStats) htmlCommand {
		return htmlCommand{Name: name, Requests: c.Requests, Errors: c.Errors,
			ErrRate: pct(c.Errors, c.Requests), P50: dur(c.Latency.P50), P90: dur(c.Latency.P90),
			P99: dur(c.Latency.P99), P999: dur(c.Latency.P999), Max: dur(c.Latency.Max)}
	}
	for _, name := range r.CommandNames() {
		d.Commands = append(d.Commands, row(name, r.Commands[name]))
	}
	for _, name := range r.OperationNames() {
		d.Ops = append(d.Ops, row(name, r.Operations[name]))
	}
	for _, class := range sortedKeys(r.ByClass) {
		d.Classes = append(d.Classes, kv{class, itoa(r.ByClass[class])})
	}
	for _, ep := range sortedKeys(r.Endpoints) {
		e := r.Endpoints[ep]
		d.Eps = append(d.Eps, htmlEndpoint{ep, e.Requests, e.Errors, e.Attempts})
	}
	for _, o := range r.Outages {
		d.Outages = append(d.Outages, htmlOutage{Name: outageName(o),
			Window: fmtDur(o.Start.Sub(r.Start)) + " – " + fmtDur(o.End.Sub(r.Start)),
			Red:    redLine(o), Green: greenLine(o), Load: loadLine(o), Herd: herdLine(o),
			Outbox: "before " + itoa(o.OutboxBefore) + ", peak " + itoa(o.OutboxPeak),
			Drain:  drainText(o)})
	}
	if e := r.ErrorSplit; e != nil {
		d.Split = splitLine(e)
	}
	if dv := r.Delivery; dv != nil {
		d.Delivery = []kv{{"accepted", itoa(dv.Accepted)}, {"received", itoa(dv.Received)},
			{"lost", itoa(dv.Lost) + " (" + pct(dv.Lost, dv.Accepted) + ")"}, {"duplicated", itoa(dv.Duplicated)},
			{"pending", pendingText(dv)},
			{"still queued", itoa(dv.Queued)}, {"dead", itoa(dv.Dead)}}
	}
	d.Charts = charts(r)
	return d
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// xDomain returns the run's time axis in seconds from r.Start.
func xDomain(r *Report) (lo, hi float64) {
	off := float64(r.Series.Start) - float64(r.Start.UnixNano())/1e9
	lo = math.Min(0, off)
	hi = math.Max(r.Elapsed().Seconds(), off+float64(len(r.Series.Points)))
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

// charts builds the four charts of the HTML report.
func charts(r *Report) []*svgChart {
	lo, hi := xDomain(r)
	off := float64(r.Series.Start) - float64(r.Start.UnixNano())/1e9
	xOf := func(i int) float64 { return off + float64(i) + 0.5 } // a point sits mid-second
	pts := r.Series.Points

	type ser struct {
		name, color string
		val         func(Point) (float64, bool)
		gauge       bool // placed at its sample time, not mid-second
	}
	build := func(title, ylabel string, log bool, series []ser) *svgChart {
		c := &svgChart{Title: title, W: chartW, H: chartH, X: plotLeft, Y: plotTop, PW: plotW, PH: plotH, YLabel: ylabel}
		ymin, ymax := math.Inf(1), math.Inf(-1)
		for _, s := range series {
			for _, p := range pts {
				if v, ok := s.val(p); ok && (!log || v > 0) {
					ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
				}
			}
		}
		if math.IsInf(ymax, -1) {
			c.Empty = true
			return c
		}
		var yOf func(float64) float64
		if log {
			a, b := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
			if b <= a {
				b = a + 1
			}
			yOf = func(v float64) float64 {
				v = math.Max(v, math.Pow(10, a))
				return plotH - (math.Log10(v)-a)/(b-a)*plotH
			}
			for e := a; e <= b; e++ {
				c.YTicks = append(c.YTicks, svgTick{yOf(math.Pow(10, e)), fmtDur(time.Duration(math.Pow(10, e) * float64(time.Millisecond)))})
			}
		} else {
			step := niceStep(ymax / 4)
			top := math.Max(step, math.Ceil(ymax/step)*step)
			yOf = func(v float64) float64 { return plotH - v/top*plotH }
			for v := 0.0; v <= top+step/2; v += step {
				c.YTicks = append(c.YTicks, svgTick{yOf(v), strconv.FormatFloat(v, 'f', -1, 64)})
			}
		}
		xPix := func(x float64) float64 { return (x - lo) / (hi - lo) * plotW }
		for i, s := range series {
			var b strings.Builder
			pen := false
			for j, p := range pts {
				v, ok := s.val(p)
				if !ok || (log && v <= 0) {
					pen = false
					continue
				}
				if pen {
					b.WriteString(" L")
				} else {
					if b.Len() > 0 {
						b.WriteByte(' ')
					}
					b.WriteString("M")
				}
				x := xOf(j)
				if s.gauge {
					x = off + float64(j) + float64(p.SampleMs)/1000
				}
				b.WriteString(strconv.FormatFloat(xPix(x), 'f', 1, 64))
				b.WriteByte(' ')
				b.WriteString(strconv.FormatFloat(yOf(v), 'f', 1, 64))
				pen = true
			}
			c.Lines = append(c.Lines, svgLine{Name: s.name, Color: s.color, D: b.String(), LegendX: plotLeft + 10 + 110*i})
		}
		step := niceStep((hi - lo) / 8)
		for t := math.Ceil(lo/step) * step; t <= hi; t += step {
			c.XTicks = append(c.XTicks, svgTick{xPix(t), fmtDur(time.Duration(t * float64(time.Second)))})
		}
		for _, o := range r.Outages {
			a := xPix(math.Max(lo, o.Start.Sub(r.Start).Seconds()))
			b := xPix(math.Min(hi, o.End.Sub(r.Start).Seconds()))
			if b > a {
				c.Shades = append(c.Shades, svgRect{X: a, W: b - a})
			}
		}
		return c
	}
	dms := func(get func(Point) Duration) func(Point) (float64, bool) {
		return func(p Point) (float64, bool) {
			return float64(get(p)) / float64(time.Millisecond), p.Delivered > 0
		}
	}
	ms := func(get func(Point) Duration) func(Point) (float64, bool) {
		return func(p Point) (float64, bool) {
			if p.Requests == 0 {
				return 0, false
			}
			return float64(get(p)) / float64(time.Millisecond), true
		}
	}
	count := func(get func(Point) int64) func(Point) (float64, bool) {
		return func(p Point) (float64, bool) { return float64(get(p)), true }
	}
	gauge := func(get func(Point) int64) func(Point) (float64, bool) {
		return func(p Point) (float64, bool) { return float64(get(p)), p.Sampled }
	}
	rates := []ser{
		{"requests/s", "#1f77b4", count(func(p Point) int64 { return p.Requests }), false},
		{"errors/s", "#d62728", count(func(p Point) int64 { return p.Errors }), false},
	}
	if hasAttempts(r.Series) {
		rates = append(rates, ser{"attempts/s", "#9467bd", count(func(p Point) int64 { return p.Attempts }), false})
	}
	out := []*svgChart{
		build("Latency by intended second", "latency", true, []ser{
			{"p50", "#1b9e77", ms(func(p Point) Duration { return p.P50 }), false},
			{"p90", "#7570b3", ms(func(p Point) Duration { return p.P90 }), false},
			{"p99", "#d95f02", ms(func(p Point) Duration { return p.P99 }), false},
			{"max", "#e7298a", ms(func(p Point) Duration { return p.Max }), false},
		}),
		build("Request rate", "per second", false, rates),
		build("Clients by reachability", "clients", false, []ser{
			{"Green", "#2ca02c", gauge(func(p Point) int64 { return p.Green }), true},
			{"Red", "#d62728", gauge(func(p Point) int64 { return p.Red }), true},
		}),
		build("Outbox depth", "items", false, []ser{
			{"outbox", "#8c564b", gauge(func(p Point) int64 { return p.Outbox }), true},
		}),
	}
	if slices.ContainsFunc(pts, func(p Point) bool { return p.Delivered > 0 }) {
		out = append(out, build("Delivery latency (accepted to received) by second of acceptance", "latency", true, []ser{
			{"p50", "#1b9e77", dms(func(p Point) Duration { return p.DeliverP50 }), false},
			{"p99", "#d95f02", dms(func(p Point) Duration { return p.DeliverP99 }), false},
		}))
	}
	return out
}

// niceStep returns 1, 2 or 5 times a power of ten, at least x.
func niceStep(x float64) float64 {
	if !(x > 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// pageHead opens the HTML pages of the package (HTMLReporter,
// TuneHTMLReporter) up to their own style rules, which follow it.
const pageHead = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { padding: .2em .8em; text-align: right; border-bottom: 1px solid #ddd; }
td:first-child, th:first-child { text-align: left; }
.kv td:first-child { color: #555; }
svg { display: block; margin: .5em 0; }
.warn { background: #fdecea; border-left: 4px solid #d62728; padding: .5em .8em; }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
`

// htmlPage is the template of HTMLReporter.
const htmlPage = pageHead + `</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{with .Partial}}<p class="warn" id="partial"><strong>{{.}}</strong>: the figures are those of the shards merged only.</p>{{end}}
{{range .Warnings}}<p class="warn warning">{{.}}</p>
{{end}}<table class="kv">
<tr><td>target</td><td>{{.Target}}</td></tr>
<tr><td>model</td><td>{{.Model}}</td></tr>
{{- with .Settings}}<tr><td>clients' settings</td><td>{{.}}</td></tr>{{end}}
{{- with .Command}}<tr><td>command</td><td><code>{{.}}</code></td></tr>{{end}}
<tr><td>clients</td><td>{{.R.Config.Clients}}</td></tr>
<tr><td>elapsed</td><td>{{.Elapsed}}</td></tr>
{{- with .R.Config.Shard}}<tr><td>shard</td><td>{{.}}</td></tr>{{end}}
{{- with .Merged}}<tr><td>shards</td><td>{{.}}</td></tr>{{end}}
<tr><td>requests</td><td>{{.R.Requests}}</td></tr>
<tr><td>errors</td><td>{{.R.Errors}} ({{.ErrPct}})</td></tr>
{{- with .Split}}<tr><td>errors, steady and in outages</td><td>{{.}}</td></tr>{{end}}
{{- range .Gen}}<tr><td>{{.K}}</td><td>{{.V}}</td></tr>{{end}}
{{- range .Setup}}<tr><td>{{.K}}</td><td>{{.V}}</td></tr>{{end}}
</table>

<h2>Latency (from intended send time)</h2>
<table><tr>{{range .Total}}<th>{{.K}}</th>{{end}}</tr><tr>{{range .Total}}<td>{{.V}}</td>{{end}}</tr></table>
<h2>Schedule</h2>
<table><tr>{{range .Schedule}}<th>{{.K}}</th>{{end}}</tr><tr>{{range .Schedule}}<td>{{.V}}</td>{{end}}</tr></table>

{{range $c := .Charts}}
<h2>{{.Title}}</h2>
{{if .Empty}}<p>No data.</p>{{else}}
<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {{.W}} {{.H}}" font-family="sans-serif" font-size="12" role="img" aria-label="{{.Title}}">
<g transform="translate({{.X}},{{.Y}})">
{{range .Shades}}<rect class="shade" fill="#f4c7c3" fill-opacity="0.5" x="{{.X}}" y="0" width="{{.W}}" height="{{$c.PH}}"><title>outage</title></rect>{{end}}
{{range .YTicks}}<line class="grid" stroke="#e4e4e4" x1="0" x2="{{$c.PW}}" y1="{{.Pos}}" y2="{{.Pos}}"/><text x="-6" y="{{.Pos}}" text-anchor="end" dominant-baseline="middle">{{.Label}}</text>{{end}}
{{range .XTicks}}<line class="grid" stroke="#e4e4e4" x1="{{.Pos}}" x2="{{.Pos}}" y1="0" y2="{{$c.PH}}"/><text x="{{.Pos}}" y="{{$c.PH}}" dy="16" text-anchor="middle">{{.Label}}</text>{{end}}
<line class="axis" stroke="#888" x1="0" x2="0" y1="0" y2="{{$c.PH}}"/><line class="axis" stroke="#888" x1="0" x2="{{$c.PW}}" y1="{{$c.PH}}" y2="{{$c.PH}}"/>
{{range .Lines}}<path class="line" fill="none" stroke-width="1.5" stroke="{{.Color}}" d="{{.D}}"><title>{{.Name}}</title></path>{{end}}
</g>
{{range .Lines}}<rect x="{{.LegendX}}" y="8" width="12" height="12" fill="{{.Color}}"/><text x="{{.LegendX}}" dx="16" y="18">{{.Name}}</text>{{end}}
<text x="6" y="18">{{.YLabel}}</text>
</svg>
{{end}}
{{end}}

{{with .Commands}}<h2>Commands (protocol calls)</h2>
<table><tr><th>command</th><th>requests</th><th>errors</th><th>error rate</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{.Requests}}</td><td>{{.Errors}}</td><td>{{.ErrRate}}</td><td>{{.P50}}</td><td>{{.P90}}</td><td>{{.P99}}</td><td>{{.P999}}</td><td>{{.Max}}</td></tr>
{{end}}</table>{{end}}

{{with .Ops}}<h2 id="operations">User operations</h2>
<p>Measured from each operation's intended time, whether the client sent it at once or queued it while offline.
The protocol calls they make are counted under Commands; the operations are not counted in the totals, the error classes or the charts.</p>
<table><tr><th>operation</th><th>count</th><th>errors</th><th>error rate</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{.Requests}}</td><td>{{.Errors}}</td><td>{{.ErrRate}}</td><td>{{.P50}}</td><td>{{.P90}}</td><td>{{.P99}}</td><td>{{.P999}}</td><td>{{.Max}}</td></tr>
{{end}}</table>{{end}}

{{with .Classes}}<h2>Errors by class</h2>
<table>{{range .}}<tr><td>{{.K}}</td><td>{{.V}}</td></tr>{{end}}</table>{{end}}

{{with .Eps}}<h2>Endpoints</h2>
<table><tr><th>endpoint</th><th>requests</th><th>errors</th><th>attempts</th></tr>
{{range .}}<tr><td>{{.URL}}</td><td>{{.Requests}}</td><td>{{.Errors}}</td><td>{{.Attempts}}</td></tr>{{end}}</table>{{end}}

{{with .Outages}}<h2>Outages</h2>
<p>Times to Red count from the outage's start, times to Green from its end, at the 1 s resolution of the gauge samples.</p>
{{range .}}<h3>{{.Name}}</h3>
<table class="kv outage">
<tr><td>window</td><td>{{.Window}}</td></tr>
<tr><td>Red</td><td>{{.Red}}</td></tr>
<tr><td>Green again</td><td>{{.Green}}</td></tr>
<tr><td>load</td><td>{{.Load}}</td></tr>
<tr><td>herd ratio</td><td>{{.Herd}}</td></tr>
<tr><td>outbox</td><td>{{.Outbox}}, {{.Drain}}</td></tr>
</table>{{end}}{{end}}

{{with .Delivery}}<h2>Delivery</h2>
<table class="kv">{{range .}}<tr><td>{{.K}}</td><td>{{.V}}</td></tr>{{end}}</table>{{end}}
</body>
</html>
`
