package loadgen

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// textOf renders r with TextReporter and HTMLReporter.
func textOf(t *testing.T, r *Report) (text, page string) {
	t.Helper()
	var a, b bytes.Buffer
	if err := TextReporter(r)(&a); err != nil {
		t.Fatal(err)
	}
	if err := HTMLReporter(r)(&b); err != nil {
		t.Fatal(err)
	}
	return a.String(), b.String()
}

// reportOf wraps series s in a report of the minute from t0.
func reportOf(s Series) *Report {
	return &Report{Version: ReportVersion, Settings: DefaultHistogramSettings(), Start: t0, End: t0.Add(time.Duration(len(s.Points)) * time.Second), Series: s}
}

// TestOutageStory: the figures that tell an outage's story, in the JSON
// figures and the text: time to Red, the load during the outage, "no
// client went Red", "never drained (N queued)", "never" for a share never
// Green again, and sampled figures at 1 s resolution.
func TestOutageStory(t *testing.T) {
	start, end := t0.Add(30*time.Second), t0.Add(40*time.Second)
	tests := []struct {
		name  string
		edit  func(s *Series)
		check func(t *testing.T, f OutageFigures)
		text  []string
	}{
		{"red by steps", func(s *Series) {
			for i, red := range []int64{20, 60, 99, 100} {
				p := &s.Points[30+i]
				p.Red, p.Green = red, 100-red
			}
		}, func(t *testing.T, f OutageFigures) {
			if !equalDur(f.Red50, durPtr(1500*time.Millisecond)) || !equalDur(f.Red99, durPtr(2500*time.Millisecond)) ||
				!equalDur(f.Red100, durPtr(3500*time.Millisecond)) || f.RedPeak != 100 {
				t.Errorf("red %v %v %v peak %d, want 1.5s 2.5s 3.5s 100", f.Red50, f.Red99, f.Red100, f.RedPeak)
			}
		}, []string{"Red          50% after 2s  99% after 3s  100% after 4s  (at most 100 Red)"}},
		{"no client went Red", func(s *Series) {
			for i := range s.Points {
				s.Points[i].Green, s.Points[i].Red = 100, 0
			}
		}, func(t *testing.T, f OutageFigures) {
			if f.Red50 != nil || f.RedPeak != 0 {
				t.Errorf("red %v peak %d, want none", f.Red50, f.RedPeak)
			}
		}, []string{"Red          no client went Red\n"}},
		{"some Red", func(s *Series) {
			for i := 30; i < 44; i++ {
				s.Points[i].Green, s.Points[i].Red = 70, 30
			}
		}, func(t *testing.T, f OutageFigures) {
			if f.Red50 != nil || f.RedPeak != 30 {
				t.Errorf("red50 %v peak %d, want never and 30", f.Red50, f.RedPeak)
			}
		}, []string{"Red          50% never  99% never  100% never  (at most 30 Red)"}},
		{"never drained, never all Green", func(s *Series) {
			s.Points = s.Points[:43] // 99 Green at 42.5 s, then the run ends
			for i := 30; i < 43; i++ {
				s.Points[i].Outbox = 30
			}
		}, func(t *testing.T, f OutageFigures) {
			if f.Drain != nil || f.OutboxLeft != 30 || f.Green100 != nil {
				t.Errorf("drain %v left %d green100 %v", f.Drain, f.OutboxLeft, f.Green100)
			}
		}, []string{"never drained (30 queued)", "Green again  50% after 2s  99% after 3s  100% never"}},
		{"retry load", func(s *Series) {
			for i := range s.Points {
				s.Points[i].Attempts = 100
				if i >= 30 && i < 40 {
					s.Points[i].Attempts = 460
				}
			}
		}, func(t *testing.T, f OutageFigures) {
			if f.AttemptRate != 460 || f.SteadyAttemptRate != 100 || f.AttemptLoad != 4.6 || f.RequestLoad != 0.1 || f.Load() != 4.6 {
				t.Errorf("attempts %v/s steady %v load %v, requests load %v", f.AttemptRate, f.SteadyAttemptRate, f.AttemptLoad, f.RequestLoad)
			}
		}, []string{"Load         during: requests 10.0/s (0.10× steady 100.0/s)  attempts 460.0/s (4.60× steady 100.0/s)"}},
		{"1 s resolution", func(s *Series) {
			for i := range s.Points {
				s.Points[i].SampleMs = 987
			}
		}, func(t *testing.T, f OutageFigures) {
			if !equalDur(f.Green50, durPtr(1987*time.Millisecond)) || !equalDur(f.Drain, durPtr(3987*time.Millisecond)) {
				t.Errorf("green50 %v drain %v, want the exact 1.987s and 3.987s", f.Green50, f.Drain)
			}
		}, []string{"Green again  50% after 2s  99% after 3s  100% after 4s", "drained after 4s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := outageSeries()
			tt.edit(&s)
			r := reportOf(s)
			r.Outages = []OutageFigures{{Outage: "down:10s@30s", Start: start, End: end}}
			r.UpdateOutages()
			if len(r.Outages) != 1 {
				t.Fatalf("outages %+v", r.Outages)
			}
			tt.check(t, r.Outages[0])
			text, page := textOf(t, r)
			for _, want := range tt.text {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
				if _, v, _ := strings.Cut(strings.TrimSpace(want), "  "); !strings.Contains(page, strings.TrimSpace(v)) {
					t.Errorf("HTML lacks %q", strings.TrimSpace(v))
				}
			}
			if strings.Contains(text, ".987s") || strings.Contains(page, ".987s") {
				t.Errorf("a sampled figure is printed finer than the samples:\n%s", text)
			}
		})
	}
}

// TestErrorSplit: the requests and errors of the seconds of an outage and
// its recovery (until 99% Green) are apart from the steady ones.
func TestErrorSplit(t *testing.T) {
	s := outageSeries()
	for i := range s.Points {
		p := &s.Points[i]
		switch {
		case i >= 30 && i < 40:
			p.Errors = p.Requests // all failed
		case i == 50:
			p.Errors = 1 // one steady failure
		}
	}
	r := reportOf(s)
	r.Requests, r.Errors = 0, 0
	for _, p := range s.Points {
		r.Requests += p.Requests
		r.Errors += p.Errors
	}
	// Seconds 30 to 42: 99% Green at 42.5 s.
	want := ErrorSplit{OutageSeconds: 13, OutageRequests: 10*10 + 250 + 400 + 150, OutageErrors: 100,
		SteadyRequests: 47 * 100, SteadyErrors: 1}
	r.Outages = []OutageFigures{{Outage: "down:10s@30s", Start: t0.Add(30 * time.Second), End: t0.Add(40 * time.Second)}}
	r.UpdateOutages()
	if r.ErrorSplit == nil || *r.ErrorSplit != want {
		t.Fatalf("split %+v, want %+v", r.ErrorSplit, want)
	}
	// Undeclared, the outage is detected over the same seconds.
	r.Outages = nil
	if r.UpdateOutages(); len(r.Outages) != 1 || r.ErrorSplit == nil || *r.ErrorSplit != want {
		t.Errorf("detected %+v: split %+v, want %+v", r.Outages, r.ErrorSplit, want)
	}

	for th, crossed := range map[string]bool{"steady_errors<1%": false, "steady_errors<=0": true, "errors<1%": true, "outage_errors<10%": true} {
		if c := Check(r, mustThresholds(t, th)...); (len(c) > 0) != crossed {
			t.Errorf("%s: %v", th, c)
		}
	}
	text, _ := textOf(t, r)
	if !strings.Contains(text, "Errors    steady 1 of 4700 (0.0213%)  in outages and recovery 100 of 900 (11.1%) over 13s") {
		t.Errorf("text:\n%s", text)
	}

	// Without outage, no split.
	for i := range r.Series.Points {
		r.Series.Points[i].Green, r.Series.Points[i].Red = 100, 0
	}
	r.Outages = nil
	if r.UpdateOutages(); r.ErrorSplit != nil {
		t.Errorf("split %+v without an outage", r.ErrorSplit)
	}
	// An outage the fleet rode out: its window only.
	r.Outages = []OutageFigures{{Outage: "down:10s@30s", Start: t0.Add(30 * time.Second), End: t0.Add(40 * time.Second)}}
	r.UpdateOutages()
	want.OutageSeconds, want.OutageRequests, want.SteadyRequests = 10, 100, 4700+250+400+150
	if r.ErrorSplit == nil || *r.ErrorSplit != want {
		t.Errorf("split of an outage the fleet rode out %+v, want %+v", r.ErrorSplit, want)
	}
}

// externalSeries is a minute of 100 clients against an external cluster
// that failed every request intended from 30 s to 40 s: the clients turn
// Red a second late (31 s to 41 s) and Green again by 43 s.
func externalSeries() Series {
	s := Series{Start: t0.Unix(), Points: make([]Point, 60)}
	for i := range s.Points {
		p := Point{Requests: 100, Attempts: 100, Sampled: true, SampleMs: 500, Clients: 100, Green: 100}
		if i >= 30 && i < 40 {
			p.Errors, p.Attempts = 100, 300
		}
		if i >= 31 && i < 42 {
			p.Green, p.Red = 0, 100
		}
		if i == 42 {
			p.Green, p.Red = 80, 20
		}
		s.Points[i] = p
	}
	return s
}

func TestDetectOutages(t *testing.T) {
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		name  string
		edit  func(s *Series)
		spans [][2]time.Time
	}{
		{"external outage", func(*Series) {}, [][2]time.Time{{at(30), at(40)}}},
		{"none", func(s *Series) {
			for i := range s.Points {
				s.Points[i] = Point{Requests: 100, Sampled: true, Clients: 100, Green: 100}
			}
		}, nil},
		{"one Red sample is a blip", func(s *Series) {
			for i := 32; i < 42; i++ {
				s.Points[i].Green, s.Points[i].Red = 100, 0
			}
		}, nil},
		{"under half Red", func(s *Series) {
			for i := 31; i < 42; i++ {
				s.Points[i].Green, s.Points[i].Red = 51, 49
			}
		}, nil},
		{"exactly half Red", func(s *Series) {
			for i := 31; i < 42; i++ {
				s.Points[i].Green, s.Points[i].Red = 50, 50
			}
		}, [][2]time.Time{{at(30), at(40)}}},
		{"no errors recorded: the Red samples", func(s *Series) {
			for i := range s.Points {
				s.Points[i].Errors = 0
			}
		}, [][2]time.Time{{at(31.5), at(41.5)}}},
		{"seconds without requests do not break the rise", func(s *Series) {
			for i := 25; i < 35; i++ {
				s.Points[i].Requests, s.Points[i].Errors = 0, 0
			}
			s.Points[24].Errors = 100
		}, [][2]time.Time{{at(24), at(40)}}},
		{"Red with a gap under 5 s is one outage", func(s *Series) {
			for i := 35; i < 38; i++ {
				s.Points[i].Green, s.Points[i].Red = 100, 0
			}
		}, [][2]time.Time{{at(30), at(40)}}},
		{"two outages", func(s *Series) {
			for i := 50; i < 55; i++ {
				s.Points[i].Green, s.Points[i].Red, s.Points[i].Errors = 0, 100, 50
			}
		}, [][2]time.Time{{at(30), at(40)}, {at(50), at(55)}}},
		{"unsampled seconds are skipped", func(s *Series) {
			for i := 32; i < 41; i += 2 {
				s.Points[i].Sampled = false
			}
		}, [][2]time.Time{{at(30), at(40)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := externalSeries()
			tt.edit(&s)
			got := DetectOutages(s, FigureOptions{})
			var spans [][2]time.Time
			for _, f := range got {
				if !f.Detected || f.Outage != "detected" {
					t.Errorf("figures %+v are not marked detected", f)
				}
				spans = append(spans, [2]time.Time{f.Start, f.End})
			}
			if fmt.Sprint(spans) != fmt.Sprint(tt.spans) {
				t.Errorf("detected %v, want %v", spans, tt.spans)
			}
		})
	}
	// The figures of a detected outage are those of a declared one.
	s := externalSeries()
	got := DetectOutages(s, FigureOptions{})
	want := Figures(s, "detected", at(30), at(40), FigureOptions{})
	want.Detected = true
	if len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Errorf("detected %+v\nwant %+v", got, want)
	}
	if f := got[0]; !equalDur(f.Red50, durPtr(1500*time.Millisecond)) || !equalDur(f.Green99, durPtr(3500*time.Millisecond)) || f.AttemptLoad != 3 {
		t.Errorf("red50 %v green99 %v load %v", f.Red50, f.Green99, f.AttemptLoad)
	}
}

// TestReportOutages: a report detects the outage of an external cluster
// and reports it in the text; a declared window or fault over it is not
// detected again; a merged report detects from the merged gauges, not the
// shards'.
func TestReportOutages(t *testing.T) {
	fromSeries := func(t *testing.T, s Series, red, green float64) *Report {
		t.Helper()
		r := newTestRecorder(t, t0)
		for i, p := range s.Points {
			sec := t0.Add(time.Duration(i) * time.Second)
			for k := range p.Requests {
				o := Outcome{}
				if k < p.Errors {
					o.Class = ClassRefused
				}
				r.Record("poll", sec, sec.Add(time.Millisecond), o)
			}
			// red clients follow the series' share of Red; green
			// clients stay Green.
			g := Gauges{Clients: int64(red + green), Red: int64(red * float64(p.Red) / 100)}
			g.Green = g.Clients - g.Red
			r.Sample(sec.Add(500*time.Millisecond), g)
		}
		rep := mustReport(t, r, t0.Add(time.Minute))
		rep.Config = RunConfig{Clients: 100, URLs: []string{"https://reg.staging"}, Duration: Duration(time.Minute)}
		return rep
	}
	r := fromSeries(t, externalSeries(), 100, 0)
	if len(r.Outages) != 1 || !r.Outages[0].Detected || r.ErrorSplit == nil || r.ErrorSplit.OutageErrors != 1000 {
		t.Fatalf("outages %+v split %+v", r.Outages, r.ErrorSplit)
	}
	text, page := textOf(t, r)
	for _, want := range []string{"Outage         detected (from the fleet's state)  from 30s to 40s", "Red          50% after 2s"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(page, "detected (from the fleet&#39;s state)") {
		t.Error("HTML lacks the detected outage")
	}
	back, err := ReadReport(bytes.NewReader(encodeJSON(t, r)))
	if err != nil || len(back.Outages) != 1 || !back.Outages[0].Detected {
		t.Errorf("read back: %v %+v", err, back)
	}

	// Declared over it: not detected again.
	w, _ := ParseWindow("29s+12s")
	r.AddWindow(w)
	if len(r.Outages) != 1 || r.Outages[0].Detected || r.Outages[0].Outage != "29s+12s" || r.Config.OutageWindows[0] != "29s+12s" {
		t.Errorf("with a declared window: %+v", r.Outages)
	}
	if text, _ := textOf(t, r); !strings.Contains(text, "29s+12s (declared window)  from 29s to 41s") {
		t.Errorf("text:\n%s", text)
	}
	r2 := fromSeries(t, externalSeries(), 100, 0)
	r2.AddOutage(Outage{Mode: OutageDown, At: 30 * time.Second, Duration: 10 * time.Second})
	if len(r2.Outages) != 1 || r2.Outages[0].Detected {
		t.Errorf("with an embedded outage: %+v", r2.Outages)
	}
	// A declared window elsewhere leaves the detected one.
	r3 := fromSeries(t, externalSeries(), 100, 0)
	w, _ = ParseWindow("5s+5s")
	r3.AddWindow(w)
	if len(r3.Outages) != 2 || r3.Outages[0].Outage != "5s+5s" || !r3.Outages[1].Detected {
		t.Errorf("with a window before: %+v", r3.Outages)
	}
	// A window after the end of a canceled run is left out.
	w, _ = ParseWindow("2m+5s")
	if r3.AddWindow(w); len(r3.Outages) != 2 {
		t.Errorf("a window after the end: %+v", r3.Outages)
	}

	// Shard a: 10 clients, all Red in the outage; shard b: 30 clients that
	// stayed Green. Each shard's report sees its own; the merge, 25% Red,
	// detects none.
	a := fromSeries(t, externalSeries(), 10, 0)
	green := externalSeries()
	for i := range green.Points {
		green.Points[i].Red, green.Points[i].Green, green.Points[i].Errors = 0, 100, 0
	}
	b := fromSeries(t, green, 0, 30)
	a.Config.Shard, b.Config.Shard = "0/2", "1/2"
	if len(a.Outages) != 1 || len(b.Outages) != 0 {
		t.Fatalf("shards: %+v / %+v", a.Outages, b.Outages)
	}
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Outages) != 0 {
		t.Errorf("merged: %+v, want no outage (25%% Red)", m.Outages)
	}
	// With shard b half Red too, the merge detects one, once.
	half := externalSeries()
	for i := range half.Points {
		if half.Points[i].Red > 0 {
			half.Points[i].Red, half.Points[i].Green = 50, 50
		}
	}
	b = fromSeries(t, half, 30, 0)
	b.Config.Shard = "1/2"
	if m, err = Merge(a, b); err != nil || len(m.Outages) != 1 || !m.Outages[0].Detected {
		t.Errorf("merged: %v %+v", err, m.Outages)
	}
}
