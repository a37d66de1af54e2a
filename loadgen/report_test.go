package loadgen

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// outageSeries is a synthetic minute of a fleet of 100 clients: 100
// requests/s until an outage from 30 s to 40 s, during which the rate drops,
// every client turns Red and outboxes grow by 10 a second; then a herd of
// 250, 400 and 150 requests/s while the clients turn Green (20, 60, 99,
// then all) and the outboxes drain (100, 50, 10, then 0). Gauges are sampled
// half way through each second.
func outageSeries() Series {
	s := Series{Start: t0.Unix(), Points: make([]Point, 60)}
	for i := range s.Points {
		p := Point{Requests: 100, Sampled: true, SampleMs: 500, Clients: 100, Green: 100}
		switch {
		case i >= 30 && i < 40:
			p.Requests, p.Green, p.Red, p.Outbox = 10, 0, 100, int64(i-29)*10
		case i >= 40 && i < 44:
			p.Requests = []int64{250, 400, 150, 100}[i-40]
			p.Green = []int64{20, 60, 99, 100}[i-40]
			p.Red = 100 - p.Green
			p.Outbox = []int64{100, 50, 10, 0}[i-40]
		}
		s.Points[i] = p
	}
	return s
}

func durPtr(d time.Duration) *Duration { return ptr(Duration(d)) }

func equalDur(a, b *Duration) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestFigures(t *testing.T) {
	s := outageSeries()
	start, end := t0.Add(30*time.Second), t0.Add(40*time.Second)
	f := Figures(s, "down:10s@30s", start, end, FigureOptions{})
	want := OutageFigures{
		Outage: "down:10s@30s", Start: start, End: end,
		Green50: durPtr(1500 * time.Millisecond), Green99: durPtr(2500 * time.Millisecond), Green100: durPtr(3500 * time.Millisecond),
		RateOf: "requests", SteadyRate: 100, PeakRate: 400, HerdRatio: 4,
		OutboxBefore: 0, OutboxPeak: 100, Drain: durPtr(3500 * time.Millisecond),
		// Every client Red at the first sample of the outage, 0.5 s in.
		Red50: durPtr(500 * time.Millisecond), Red99: durPtr(500 * time.Millisecond), Red100: durPtr(500 * time.Millisecond),
		RedPeak: 100,
		// 10 requests/s during the outage against 100 before.
		RequestRate: 10, SteadyRequestRate: 100, RequestLoad: 0.1,
	}
	if !equalDur(f.Green50, want.Green50) || !equalDur(f.Green99, want.Green99) || !equalDur(f.Green100, want.Green100) || !equalDur(f.Drain, want.Drain) ||
		!equalDur(f.Red50, want.Red50) || !equalDur(f.Red99, want.Red99) || !equalDur(f.Red100, want.Red100) {
		t.Errorf("times: red %v %v %v green %v %v %v drain %v", f.Red50, f.Red99, f.Red100, f.Green50, f.Green99, f.Green100, f.Drain)
	}
	f.Green50, f.Green99, f.Green100, f.Drain = want.Green50, want.Green99, want.Green100, want.Drain
	f.Red50, f.Red99, f.Red100 = want.Red50, want.Red99, want.Red100
	if f != want {
		t.Errorf("figures\n got %+v\nwant %+v", f, want)
	}
}

func TestFiguresEdges(t *testing.T) {
	s := outageSeries()
	start, end := t0.Add(30*time.Second), t0.Add(40*time.Second)

	t.Run("steady window after the ramp-up", func(t *testing.T) {
		s := outageSeries()
		for i := range 27 {
			s.Points[i].Requests = 1 // ramping
		}
		f := Figures(s, "", start, end, FigureOptions{NotBefore: t0.Add(27 * time.Second)})
		if f.SteadyRate != 100 || f.HerdRatio != 4 {
			t.Errorf("steady %v ratio %v, want 100 and 4", f.SteadyRate, f.HerdRatio)
		}
		f = Figures(s, "", start, end, FigureOptions{})
		if f.SteadyRate != (7*1+3*100)/10.0 {
			t.Errorf("without NotBefore: steady %v", f.SteadyRate)
		}
	})
	t.Run("attempts are preferred", func(t *testing.T) {
		s := outageSeries()
		for i := range s.Points {
			s.Points[i].Attempts = 2 * s.Points[i].Requests
		}
		s.Points[41].Attempts = 1000
		f := Figures(s, "", start, end, FigureOptions{})
		if f.RateOf != "attempts" || f.SteadyRate != 200 || f.PeakRate != 1000 || f.HerdRatio != 5 {
			t.Errorf("figures = %+v", f)
		}
	})
	t.Run("peak window", func(t *testing.T) {
		f := Figures(s, "", start, end, FigureOptions{PeakWindow: time.Second})
		if f.PeakRate != 250 {
			t.Errorf("peak in 1 s after the end = %v, want 250", f.PeakRate)
		}
	})
	t.Run("never green, never drained", func(t *testing.T) {
		s := outageSeries()
		s.Points = s.Points[:42]
		f := Figures(s, "", start, end, FigureOptions{})
		if f.Green50 == nil || f.Green99 != nil || f.Green100 != nil || f.Drain != nil {
			t.Errorf("green %v %v %v drain %v", f.Green50, f.Green99, f.Green100, f.Drain)
		}
	})
	t.Run("no steady rate", func(t *testing.T) {
		f := Figures(s, "", t0, t0.Add(time.Second), FigureOptions{})
		if f.SteadyRate != 0 || f.HerdRatio != 0 || f.PeakRate != 400 {
			t.Errorf("outage at the start: %+v", f)
		}
	})
	t.Run("clients not sampled", func(t *testing.T) {
		s := outageSeries()
		for i := range s.Points {
			s.Points[i].Clients = 0
		}
		if d, ok := TimeToGreen(s, end, 990); !ok || d != 2500*time.Millisecond {
			t.Errorf("99%% of Green+Red after %s %v", d, ok)
		}
	})
	t.Run("green throughout", func(t *testing.T) {
		s := outageSeries()
		for i := range s.Points {
			s.Points[i].Green, s.Points[i].Red = 100, 0
		}
		f := Figures(s, "", start, end, FigureOptions{})
		if f.Green50 == nil || *f.Green50 != 0 || f.Green100 == nil || *f.Green100 != 0 {
			t.Errorf("a fleet that stayed Green: %v %v", f.Green50, f.Green100)
		}
	})
	t.Run("partly red at the end", func(t *testing.T) {
		s := outageSeries()
		s.Points[39].Green, s.Points[39].Red = 60, 40
		f := Figures(s, "", start, end, FigureOptions{})
		if f.Green50 == nil || *f.Green50 != 0 || time.Duration(*f.Green99) != 2500*time.Millisecond {
			t.Errorf("60%% Green at the end: %v %v", f.Green50, f.Green99)
		}
	})
	t.Run("unsampled seconds are skipped", func(t *testing.T) {
		s := outageSeries()
		s.Points[41].Sampled = false
		if d, ok := TimeToGreen(s, end, 500); !ok || d != 2500*time.Millisecond {
			t.Errorf("50%% Green after %s %v, want 2.5s", d, ok)
		}
	})
}

func TestHerd(t *testing.T) {
	rates := []int64{10, 10, 10, 10, 0, 0, 50, 20, 10}
	base := t0.Unix()
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	steady, peak, ratio := Herd(base, rates, at(0), at(4), at(6), at(100))
	if steady != 10 || peak != 50 || ratio != 5 {
		t.Errorf("Herd = %v %v %v, want 10 50 5", steady, peak, ratio)
	}
	// An outage from 3.5 s: second 3 is not wholly before it.
	if steady, _, _ := Herd(base, []int64{10, 10, 10, 40}, at(0), at(3.5), at(3.6), at(4)); steady != 10 {
		t.Errorf("steady = %v, want 10", steady)
	}
	// The peak counts the second in which the outage ends.
	if _, peak, _ := Herd(base, rates, at(0), at(4), at(6.5), at(100)); peak != 50 {
		t.Errorf("peak = %v, want 50", peak)
	}
}

// sampleReport is a report with a bit of everything: 600 polls, 100 of them
// refused, and 20 invite operations of 2 s (4 offline) that count in none
// of the totals.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	r := newTestRecorder(t, t0)
	for i := range 20 {
		at := t0.Add(time.Duration(3*i) * time.Second)
		o := Outcome{}
		if i%5 == 0 {
			o.Class = ClassOffline
		}
		r.RecordOperation("invite", at, at.Add(2*time.Second+time.Duration(i)*time.Millisecond), o)
	}
	for sec := range 60 {
		for i := range 10 {
			at := t0.Add(time.Duration(sec)*time.Second + time.Duration(i)*100*time.Millisecond)
			lat := time.Duration(i+1) * time.Millisecond
			o := Outcome{Endpoint: "http://a.example:8080"}
			if sec >= 30 && sec < 40 {
				lat, o = time.Second, Outcome{Class: ClassRefused}
			}
			r.Record("poll", at, at.Add(lat), o)
			r.RecordLag(at, at.Add(time.Duration(i)*time.Millisecond))
		}
		g := Gauges{Clients: 10, Green: 10}
		if sec >= 30 && sec < 42 {
			g = Gauges{Clients: 10, Red: 10, Outbox: 5}
		}
		r.Sample(t0.Add(time.Duration(sec)*time.Second+500*time.Millisecond), g)
	}
	rep := mustReport(t, r, t0.Add(60*time.Second))
	rep.Config = RunConfig{Clients: 10, Duration: Duration(time.Minute), RampUp: Duration(5 * time.Second), Seed: 7}
	rep.AddOutage(Outage{Mode: OutageDown, At: 30 * time.Second, Duration: 10 * time.Second})
	rep.Delivery = &Delivery{Accepted: 100, Received: 97, Duplicated: 2, DrainPhase: Duration(3 * time.Second)}
	rep.Delivery.Settle()
	return rep
}

func encodeJSON(t *testing.T, r *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := JSONReporter(r)(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReportJSONRoundTrip(t *testing.T) {
	rep := sampleReport(t)
	if rep.Delivery.Lost != 3 || len(rep.Outages) != 1 || rep.Config.Outages[0] != "down:10s@30s" {
		t.Fatalf("sample report: delivery %+v outages %+v config %v", rep.Delivery, rep.Outages, rep.Config.Outages)
	}
	o := rep.Outages[0]
	if o.Green100 == nil || time.Duration(*o.Green100) != 2500*time.Millisecond || o.OutboxPeak != 5 || o.HerdRatio != 1 {
		t.Errorf("outage figures = %+v", o)
	}
	a := encodeJSON(t, rep)
	back, err := ReadReport(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if b := encodeJSON(t, back); !bytes.Equal(a, b) {
		t.Errorf("JSON changes on a round trip:\n%s\n----\n%s", a, b)
	}
	h, err := back.Histogram("poll")
	if err != nil || h.TotalCount() != 600 {
		t.Errorf("decoded histogram: %v values, %v", h.TotalCount(), err)
	}
	if inv := back.Operations["invite"]; inv == nil || inv.Requests != 20 || inv.Errors != 4 || inv.Latency != rep.Operations["invite"].Latency {
		t.Errorf("operation read back = %+v", inv)
	}
	if !bytes.Contains(a, []byte(`"operations": {`)) || !bytes.Contains(a, []byte(`"version": 3`)) {
		t.Error(`JSON lacks "operations" or "version": 3`)
	}
	// Durations are numbers of seconds, which any JSON reader takes.
	for _, want := range []string{`"duration": 60,`, `"ramp_up": 5,`, `"p50": 0.006003,`, `"green100": 2.5`, `"tolerance": 0.01,`} {
		if !bytes.Contains(a, []byte(want)) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	var generic map[string]any
	if err := json.Unmarshal(a, &generic); err != nil {
		t.Fatal(err)
	}
	if p50, ok := generic["total"].(map[string]any)["p50"].(float64); !ok || p50 != 0.006003 {
		t.Errorf("total.p50 read by a plain JSON decoder = %#v, want the number 0.006003", generic["total"].(map[string]any)["p50"])
	}
}

// TestReadReportVersion2: a version 2 report (durations as Go strings,
// histograms up to 60 s), as the previous loadgen wrote it, still reads,
// renders in every format and checks against thresholds with its own
// geometry; written again it reads back; it merges with version 2 reports
// but not with version 3 ones.
func TestReadReportVersion2(t *testing.T) {
	raw, err := os.ReadFile("testdata/report_v2.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"p50": "6.003ms"`)) || !bytes.Contains(raw, []byte(`"highest_us": 60000000`)) {
		t.Fatal("testdata/report_v2.json is not a version 2 report")
	}
	r, err := ReadReport(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	v3 := sampleReport(t)
	if r.Version != 2 || r.Settings.Highest != 60_000_000 || r.Requests != 600 || r.Total != v3.Total {
		t.Errorf("version %d highest %d requests %d total %+v; want 2, 60 s, 600 and %+v", r.Version, r.Settings.Highest, r.Requests, r.Total, v3.Total)
	}
	if time.Duration(r.Config.Duration) != time.Minute || len(r.Outages) != 1 || !equalDur(r.Outages[0].Green100, durPtr(2500*time.Millisecond)) {
		t.Errorf("config duration %s, outages %+v", r.Config.Duration, r.Outages)
	}
	if err := r.Recompute(); err != nil {
		t.Errorf("Recompute of a version 2 report: %v", err)
	}
	for name, rep := range map[string]Reporter{"text": TextReporter(r), "html": HTMLReporter(r), "hgrm": HgrmReporter(r, ""), "json": JSONReporter(r)} {
		var b bytes.Buffer
		if err := rep(&b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if name == "hgrm" && !strings.Contains(b.String(), "Buckets =           16") {
			t.Errorf("hgrm of a version 2 report does not keep its 60 s geometry:\n%s", b.String())
		}
	}
	for _, c := range []struct {
		th      string
		crossed bool
	}{{"p99<2s", false}, {"p50{poll}<5ms", true}, {"errors<20%", false}, {"green100<2s", true}} {
		th, err := ParseThreshold(c.th)
		if err != nil {
			t.Fatal(err)
		}
		if got := Check(r, th); (len(got) > 0) != c.crossed || len(got) > 0 && !got[0].Measured {
			t.Errorf("%s on the version 2 report: %v", c.th, got)
		}
	}
	back, err := ReadReport(bytes.NewReader(encodeJSON(t, r)))
	if err != nil || back.Version != 2 || back.Total != r.Total {
		t.Errorf("version 2 report written again and read back: %v, %+v", err, back)
	}
	r.Config.Shard, back.Config.Shard = "0/2", "1/2" // two halves of one run
	if m, err := Merge(r, back); err != nil || m.Requests != 1200 || m.Version != 2 {
		t.Errorf("Merge of two version 2 reports: %v", err)
	}
	_, err = Merge(v3, r)
	if !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Merge of version 3 and version 2 = %v, want ErrIncompatible", err)
	}
	for _, want := range []string{"report 1", "version 2", "report 0", "version 3", "one loadgen version"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("merge error %q does not say %q", err, want)
		}
	}
	// A version 2 report with 1 h histograms is not a version 2 report.
	r.Settings.Highest = HistogramHighest
	if err := r.Validate(); !errors.Is(err, ErrIncompatible) {
		t.Errorf("version 2 with version 3 settings: %v", err)
	}
}

func TestReadReportRejects(t *testing.T) {
	good := encodeJSON(t, sampleReport(t))
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"not JSON", []byte("{"), ErrBadReport},
		{"version 1", edit(func(m map[string]any) { m["version"] = 1 }), ErrIncompatible},
		{"newer version", edit(func(m map[string]any) { m["version"] = ReportVersion + 1 }), ErrIncompatible},
		{"no version", edit(func(m map[string]any) { delete(m, "version") }), ErrIncompatible},
		{"settings", edit(func(m map[string]any) { m["histogram"].(map[string]any)["digits"] = 2 }), ErrIncompatible},
		{"histogram", edit(func(m map[string]any) {
			m["commands"].(map[string]any)["poll"].(map[string]any)["hist"] = "bm90IGEgaGlzdG9ncmFt"
		}), ErrBadReport},
		{"operation's histogram", edit(func(m map[string]any) {
			m["operations"].(map[string]any)["invite"].(map[string]any)["hist"] = "bm90IGEgaGlzdG9ncmFt"
		}), ErrBadReport},
		{"operation without figures", edit(func(m map[string]any) {
			m["operations"].(map[string]any)["invite"] = nil
		}), ErrBadReport},
		{"second's histogram", edit(func(m map[string]any) {
			m["series"].(map[string]any)["points"].([]any)[3].(map[string]any)["hist"] = "!!"
		}), ErrBadReport},
		{"end before start", edit(func(m map[string]any) { m["end"] = "2000-01-01T00:00:00Z" }), ErrBadReport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadReport(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Errorf("ReadReport = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestReadReportVersion1Explains: a report of the format that counted
// invitations twice is refused with a message saying why and what to do.
func TestReadReportVersion1Explains(t *testing.T) {
	rep := sampleReport(t)
	rep.Version = 1
	_, err := ReadReport(bytes.NewReader(encodeJSON(t, rep)))
	if !errors.Is(err, ErrIncompatible) {
		t.Fatalf("ReadReport = %v, want ErrIncompatible", err)
	}
	for _, want := range []string{"version 1", "reads versions 2 to 3", "twice", "rerun with this build"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestHgrmReporter(t *testing.T) {
	r := newTestRecorder(t, t0)
	for i := 1; i <= 100; i++ {
		r.Record("poll", t0, t0.Add(time.Duration(i)*time.Millisecond), Outcome{})
	}
	r.Record("login", t0, t0.Add(5*time.Second), Outcome{})
	r.RecordOperation("invite", t0, t0.Add(7*time.Second), Outcome{})
	r.RecordOperation("invite", t0, t0.Add(9*time.Second), Outcome{})
	rep := mustReport(t, r, t0.Add(time.Second))
	var b bytes.Buffer
	if err := HgrmReporter(rep, "poll")(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if lines[0] != "       Value   Percentile   TotalCount 1/(1-Percentile)" || lines[1] != "" {
		t.Fatalf("header = %q %q", lines[0], lines[1])
	}
	row := regexp.MustCompile(`^ +([0-9.]+) +([0-9.]+) +([0-9]+) +([0-9.]+|inf)$`)
	var rows [][]string
	for _, l := range lines[2:] {
		if strings.HasPrefix(l, "#") {
			break
		}
		m := row.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("row %q is not Value Percentile TotalCount 1/(1-Percentile)", l)
		}
		rows = append(rows, m)
	}
	if first := rows[0]; first[1] != "1.000" || first[2] != "0.000000" || first[3] != "1" {
		t.Errorf("first row %q, want 1.000 ms at 0.000000 (values in milliseconds)", first[0])
	}
	if last := rows[len(rows)-1]; last[1] != "100.031" || last[2] != "1.000000" || last[3] != "100" || last[4] != "inf" {
		t.Errorf("last row %q", last[0])
	}
	prev := -1.0
	for _, r := range rows {
		v, _ := strconv.ParseFloat(r[1], 64)
		if v < prev {
			t.Errorf("values not increasing at %q", r[0])
		}
		prev = v
	}
	footer := strings.Join(lines[len(lines)-3:], "\n")
	want := "#[Mean    =       50.504, StdDeviation   =       28.866]\n" +
		"#[Max     =      100.031, Total count    =          100]\n" +
		"#[Buckets =           22, SubBuckets     =         2048]"
	if footer != want {
		t.Errorf("footer\n%s\nwant\n%s", footer, want)
	}
	// All commands.
	b.Reset()
	if err := HgrmReporter(rep, "")(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Total count    =          101]") {
		t.Errorf("all commands, operations not included: %s", b.String())
	}
	// An operation by name.
	b.Reset()
	if err := HgrmReporter(rep, "invite")(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Total count    =            2]") || !strings.Contains(b.String(), "Max     =     9003.") {
		t.Errorf("operation invite: %s", b.String())
	}
}

func TestTextReporter(t *testing.T) {
	var b bytes.Buffer
	if err := TextReporter(sampleReport(t))(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"clients 10  closed model",
		"total 600  rate 10.0/s  errors 100 (16.7%)",
		"p50 6.003ms",
		"offered n/a (closed model)  sent 600  late 0 (>10ms)  missed n/a",
		"poll     600       100",
		"refused      100",
		"http://a.example:8080  500       0",
		"Outage         down:10s@30s  from 30s to 40s",
		// Sampled figures at the 1 s resolution of the samples.
		"Red          50% after 1s  99% after 1s  100% after 1s  (at most 10 Red)",
		"Green again  50% after 3s  99% after 3s  100% after 3s",
		"Load         during: requests 10.0/s (1.00× steady 10.0/s)",
		"Herd ratio   1.00  (peak 10/s after, steady 10.0/s before, requests)",
		"before 0  peak 5  drained after 3s",
		// The outage from 30 s is Green again at 42.5 s: 13 seconds.
		"Errors    steady 0 of 470 (0%)  in outages and recovery 100 of 130 (76.9%) over 13s",
		"accepted 100  received 97  lost 3 (3%)  duplicated 2  after a drain phase of 3s",
		"Requests  total 600",
		"User operations, measured from their intended time",
		"Not counted in the totals",
		"Operation  Count  Errors  p50     p90     p99     p99.9   Max\ninvite     20     4       2.009s",
		"max 1s\n", // the operations' 2 s are not in the total latency
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\n"+ClassOffline) {
		t.Errorf("the operations' errors are among the error classes:\n%s", out)
	}
	// The operations come after the commands.
	if i, j := strings.Index(out, "Command "), strings.Index(out, "Operation "); i < 0 || j < i {
		t.Errorf("operations (at %d) not after the commands (at %d):\n%s", j, i, out)
	}
	// The open model's offered and missed sends are counts.
	b.Reset()
	rep := sampleReport(t)
	rep.Config.Rate = 50
	rep.Schedule.Offered, rep.Schedule.Sent, rep.Schedule.Missed = 300, 290, 10
	if err := TextReporter(rep)(&b); err != nil {
		t.Fatal(err)
	}
	if want := "offered 300  sent 290  late 0 (>10ms)  missed 10"; !strings.Contains(b.String(), want) {
		t.Errorf("open-model summary lacks %q:\n%s", want, b.String())
	}
	// No operations, no section.
	b.Reset()
	rep = sampleReport(t)
	rep.Operations = nil
	if err := TextReporter(rep)(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "User operations") {
		t.Errorf("a report without operations shows the section:\n%s", b.String())
	}
}

// svgs returns the inline SVG elements of an HTML page.
func svgs(t *testing.T, page string) []string {
	t.Helper()
	var out []string
	for rest := page; ; {
		i := strings.Index(rest, "<svg")
		if i < 0 {
			return out
		}
		j := strings.Index(rest[i:], "</svg>")
		if j < 0 {
			t.Fatal("<svg> not closed")
		}
		out = append(out, rest[i:i+j+len("</svg>")])
		rest = rest[i+j:]
	}
}

func TestHTMLReporter(t *testing.T) {
	rep := sampleReport(t)
	evil := `<script>alert("x")</script>`
	rep.Commands[evil] = rep.Commands["poll"]
	rep.Endpoints[`http://x/"><img src=y>`] = EndpointStats{Requests: 1}
	rep.Config.URLs = []string{"http://staging.example/<b>"}
	var b bytes.Buffer
	if err := HTMLReporter(rep)(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script") || strings.Contains(page, "<img") || strings.Contains(page, "<b>") {
		t.Error("report strings are not escaped")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("the escaped command name is missing")
	}
	// Self-contained: no link, script, stylesheet or image from anywhere.
	for _, bad := range []string{"<link", "<iframe", "<object", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if n := strings.Count(page, "https://") + strings.Count(page, "http://") - strings.Count(page, "http://www.w3.org/2000/svg") -
		strings.Count(page, "http://a.example") - strings.Count(page, "http://staging.example") - strings.Count(page, "http://x/"); n != 0 {
		t.Errorf("%d unexpected URLs in the page", n)
	}
	charts := svgs(t, page)
	if len(charts) != 4 {
		t.Fatalf("%d charts, want 4", len(charts))
	}
	for i, c := range charts {
		dec := xml.NewDecoder(strings.NewReader(c))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("chart %d is not well-formed: %v\n%s", i, err, c)
			}
		}
		if !strings.Contains(c, `class="shade"`) {
			t.Errorf("chart %d does not shade the outage", i)
		}
		if !strings.Contains(c, `<path class="line"`) {
			t.Errorf("chart %d has no line", i)
		}
	}
	for _, want := range []string{">p50<", ">p90<", ">p99<", ">max<", ">requests/s<", ">Green<", ">Red<", ">outbox<", "down:10s@30s",
		"<td>requests</td><td>600</td>", "<td>errors</td><td>100 (16.7%)</td>",
		"<h2 id=\"operations\">User operations</h2>", "intended time", "not counted in the totals",
		"<tr><td>invite</td><td>20</td><td>4</td><td>20%</td><td>2.009s</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if i, j := strings.Index(page, "<h2>Commands"), strings.Index(page, `<h2 id="operations">`); i < 0 || j < i {
		t.Errorf("operations (at %d) not after the commands (at %d)", j, i)
	}
	// The latency chart breaks its lines where there were no requests.
	if !regexp.MustCompile(`d="M[0-9. ]+(L[0-9. ]+)*"`).MatchString(charts[0]) {
		t.Error("latency path data malformed")
	}
}

// TestReportersOnEmptyReport: a run that recorded nothing still reports.
func TestReportersOnEmptyReport(t *testing.T) {
	r := newTestRecorder(t, t0)
	rep := mustReport(t, r, t0)
	for name, w := range map[string]Reporter{
		"text": TextReporter(rep), "json": JSONReporter(rep), "hgrm": HgrmReporter(rep, ""), "html": HTMLReporter(rep),
	} {
		var b bytes.Buffer
		if err := w(&b); err != nil || b.Len() == 0 {
			t.Errorf("%s: %v, %d bytes", name, err, b.Len())
		}
	}
	if _, err := ReadReport(bytes.NewReader(encodeJSON(t, rep))); err != nil {
		t.Errorf("empty report does not read back: %v", err)
	}
}

func TestDurationJSON(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		json string
	}{
		{289 * time.Microsecond, "0.000289"},
		{0, "0"},
		{1500 * time.Millisecond, "1.5"},
		{time.Nanosecond, "0.000000001"},
		{time.Hour + time.Nanosecond, "3600.000000001"},
		{-2 * time.Second, "-2"},
		{90 * time.Minute, "5400"},
	} {
		b, err := json.Marshal(Duration(tt.d))
		if err != nil || string(b) != tt.json {
			t.Errorf("%s → %s, %v; want %s", tt.d, b, err, tt.json)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || time.Duration(back) != tt.d {
			t.Errorf("%s → %s → %s, %v", tt.d, b, time.Duration(back), err)
		}
	}
	// Version 2 wrote Go duration strings.
	var d Duration
	for in, want := range map[string]time.Duration{`"1.5s"`: 1500 * time.Millisecond, `"289µs"`: 289 * time.Microsecond, `"0s"`: 0, `2e-3`: 2 * time.Millisecond} {
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s → %s, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{`"soon"`, `"1.5"`, `true`, `1e300`, `null`} {
		d = 0
		if err := json.Unmarshal([]byte(in), &d); (err == nil) != (in == `null`) {
			t.Errorf("%s accepted", in)
		}
	}
}
