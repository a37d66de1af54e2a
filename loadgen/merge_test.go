package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// TestMergeEqualsUnion: two shard reports, started in different seconds,
// merge to exactly the report of one recorder that saw every sample, user
// operations included.
func TestMergeEqualsUnion(t *testing.T) {
	startA, startB := t0, t0.Add(1700*time.Millisecond)
	endA, endB := t0.Add(30*time.Second), t0.Add(31700*time.Millisecond)
	a, b, u := newTestRecorder(t, startA), newTestRecorder(t, startB), newTestRecorder(t, startA)

	rng := rand.New(rand.NewPCG(7, 11))
	cmds := []string{"poll", "sendinvitation", "login"}
	var invites int64
	classes := []string{"", "", "", "", ClassTimeout, ClassRefused}
	for i := range 20_000 {
		shard, from := a, startA
		if rng.IntN(2) == 1 {
			shard, from = b, startB
		}
		intended := from.Add(time.Duration(rng.Int64N(int64(28 * time.Second))))
		lat := time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
		if i%500 == 0 {
			lat = 3 * time.Second
		}
		o := Outcome{Class: classes[rng.IntN(len(classes))], Endpoint: fmt.Sprintf("http://10.0.0.%d", rng.IntN(3))}
		cmd := cmds[rng.IntN(len(cmds))]
		lag := time.Duration(rng.IntN(3)) * 7 * time.Millisecond
		for _, r := range []*Recorder{shard, u} {
			r.Record(cmd, intended, intended.Add(lat), o)
			r.RecordLag(intended, intended.Add(lag))
			if i%3 == 0 {
				r.RecordAttempt(intended, o.Endpoint)
			}
			if cmd == "sendinvitation" {
				// The operation, from a little earlier (queued at times).
				r.RecordOperation("invite", intended.Add(-lag*100), intended.Add(lat), o)
			}
			if i%1000 == 0 {
				r.RecordOperation("signup", intended, intended.Add(lat), Outcome{})
			}
		}
		if cmd == "sendinvitation" {
			invites++
		}
	}
	// Gauges: each shard samples at 200 ms into every second of its run;
	// once a shard has ended, its last sample stands for its clients.
	lastOf := map[*Recorder]Gauges{}
	for sec := int64(0); sec <= 31; sec++ {
		at := time.Unix(t0.Unix()+sec, 0).Add(200 * time.Millisecond)
		var sum Gauges
		for _, s := range []struct {
			r          *Recorder
			start, end time.Time
			g          Gauges
		}{
			{a, startA, endA, Gauges{Clients: 50, Green: 40 + sec%10, Red: 10 - sec%10, Outbox: sec}},
			{b, startB, endB, Gauges{Clients: 30, Green: 30 - sec%5, Red: sec % 5, Outbox: 2 * sec}},
		} {
			if at.Before(s.start) {
				continue
			}
			if at.After(s.end) {
				s.g = lastOf[s.r]
			} else {
				s.r.Sample(at, s.g)
				lastOf[s.r] = s.g
			}
			sum.Clients += s.g.Clients
			sum.Green += s.g.Green
			sum.Red += s.g.Red
			sum.Outbox += s.g.Outbox
		}
		u.Sample(at, sum)
	}
	ra, rb, ru := mustReport(t, a, endA), mustReport(t, b, endB), mustReport(t, u, endB)
	ra.Delivery = &Delivery{Accepted: 10, Received: 9, Duplicated: 1}
	rb.Delivery = &Delivery{Accepted: 5, Received: 6}
	ru.Delivery = &Delivery{Accepted: 15, Received: 15, Duplicated: 1}
	for _, r := range []*Report{ra, rb, ru} {
		r.Delivery.Settle()
		r.Config = RunConfig{Clients: 80, Duration: Duration(30 * time.Second)}
	}
	ra.Config.Shard, rb.Config.Shard = "0/2", "1/2"
	before := string(encodeJSON(t, ra)) + string(encodeJSON(t, rb))

	m, err := Merge(ra, rb)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(m.Shards) != "[0/2 1/2]" {
		t.Errorf("shards = %v", m.Shards)
	}
	if m.Requests != 20_000 || m.Total.Count != 20_000 {
		t.Errorf("merged %d requests, %d latencies, want 20000 (the calls, not the operations)", m.Requests, m.Total.Count)
	}
	if inv := m.Operations["invite"]; inv == nil || inv.Requests != invites || inv.Latency.Count != invites ||
		inv.Requests != ra.Operations["invite"].Requests+rb.Operations["invite"].Requests {
		t.Errorf("merged invite = %+v, want %d", inv, invites)
	}
	if m.Operations["invite"].Latency != ru.Operations["invite"].Latency {
		t.Errorf("merged invite latency %+v\nunion invite latency  %+v", m.Operations["invite"].Latency, ru.Operations["invite"].Latency)
	}
	if m.Total != ru.Total {
		t.Errorf("merged latency %+v\nunion latency  %+v", m.Total, ru.Total)
	}
	m.Shards = nil
	if got, want := encodeJSON(t, m), encodeJSON(t, ru); !bytes.Equal(got, want) {
		t.Errorf("merged report differs from the union's:\n%s", firstDiff(got, want))
	}
	if after := string(encodeJSON(t, ra)) + string(encodeJSON(t, rb)); after != before {
		t.Error("Merge modified its inputs")
	}
	// Merging is associative with a single report.
	one, err := Merge(ru)
	if err != nil {
		t.Fatal(err)
	}
	one.Shards = nil
	if !bytes.Equal(encodeJSON(t, one), encodeJSON(t, ru)) {
		t.Error("Merge of one report changes it")
	}
}

// firstDiff shows where two encodings first differ.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-200)
	return fmt.Sprintf("at byte %d:\n got …%s\nwant …%s", i, a[lo:min(len(a), i+100)], b[lo:min(len(b), i+100)])
}

func TestMergeGaugesAndOutages(t *testing.T) {
	mk := func(start time.Time, skip int) *Report {
		r := newTestRecorder(t, start)
		for sec := range 10 {
			if sec == skip {
				continue
			}
			r.Sample(start.Add(time.Duration(sec)*time.Second), Gauges{Clients: 10, Green: int64(sec), Red: int64(10 - sec), Outbox: 1})
		}
		rep := mustReport(t, r, start.Add(9*time.Second))
		rep.AddOutage(Outage{Mode: OutageDown, At: 2 * time.Second, Duration: 3 * time.Second})
		return rep
	}
	a, b := mk(t0, 5), mk(t0, -1)
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	// Shard a missed second 5: its sample of second 4 stands in.
	if p := m.Series.Points[5]; !p.Sampled || p.Green != 4+5 || p.Clients != 20 || p.Outbox != 2 {
		t.Errorf("second 5 = %+v, want a's second 4 plus b's second 5", p)
	}
	if p := m.Series.Points[6]; p.Green != 12 {
		t.Errorf("second 6 green = %d, want 12", p.Green)
	}
	if len(m.Outages) != 1 {
		t.Fatalf("outages = %+v", m.Outages)
	}
	if m.Operations != nil {
		t.Errorf("operations = %v, want none", m.Operations)
	}
	// The outage ends at 5 s; 10 of 20 clients are Green first at 6 s.
	if o := m.Outages[0]; o.Green50 == nil || time.Duration(*o.Green50) != time.Second || o.Green100 != nil {
		t.Errorf("merged outage = %+v", o)
	}
}

func TestMergeRejects(t *testing.T) {
	rep := func() *Report { return mustReport(t, newTestRecorder(t, t0), t0.Add(time.Second)) }
	if _, err := Merge(); err == nil {
		t.Error("Merge() accepted")
	}
	if _, err := Merge(rep(), nil); err == nil {
		t.Error("Merge with a nil report accepted")
	}
	v1 := rep()
	v1.Version = 1
	if _, err := Merge(rep(), v1); !errors.Is(err, ErrIncompatible) ||
		!strings.Contains(err.Error(), "report 1: version 1, this build reads versions 2 to 3") {
		t.Errorf("other version: %v", err)
	}
	if _, err := Merge(v1, v1); !errors.Is(err, ErrIncompatible) {
		t.Errorf("old version: %v", err)
	}
	v3 := rep()
	v3.Version = ReportVersion + 1
	if _, err := Merge(v3, v3); !errors.Is(err, ErrIncompatible) {
		t.Errorf("unknown version: %v", err)
	}
	s := rep()
	s.Settings.Digits = 2
	if _, err := Merge(rep(), s); !errors.Is(err, ErrIncompatible) {
		t.Errorf("other settings: %v", err)
	}
	// A histogram whose header disagrees with the report's settings.
	r := newTestRecorder(t, t0)
	r.Record("poll", t0, t0.Add(time.Millisecond), Outcome{})
	lying := mustReport(t, r, t0.Add(time.Second))
	good := lying.Commands["poll"].Hist
	other := hdr.New(HistogramLowest, HistogramHighest, 2)
	_ = other.RecordValue(1000)
	enc, err := other.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	lying.Commands["poll"].Hist = string(enc)
	if _, err := Merge(rep(), lying); !errors.Is(err, ErrIncompatible) {
		t.Errorf("histogram of other settings: %v", err)
	}
	lying.Commands["poll"].Hist = "not base64!"
	if _, err := Merge(rep(), lying); !errors.Is(err, ErrBadReport) {
		t.Errorf("broken histogram: %v", err)
	}
	lying.Commands["poll"].Hist = good
	if _, err := Merge(rep(), lying); err != nil {
		t.Errorf("a valid histogram is refused: %v", err)
	}
	// The same checks for an operation.
	lying.Operations = map[string]*CommandStats{"invite": {Requests: 1, Hist: string(enc)}}
	if _, err := Merge(rep(), lying); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "operation invite") {
		t.Errorf("operation histogram of other settings: %v", err)
	}
	lying.Operations["invite"].Hist = "not base64!"
	if _, err := Merge(rep(), lying); !errors.Is(err, ErrBadReport) {
		t.Errorf("broken operation histogram: %v", err)
	}
	lying.Operations["invite"] = nil
	if _, err := Merge(rep(), lying); !errors.Is(err, ErrBadReport) {
		t.Errorf("operation without figures: %v", err)
	}
}

// TestMergeOperationsOfSomeShards: a shard that recorded no operation merges
// with one that did, and the operations stay out of the totals.
func TestMergeOperationsOfSomeShards(t *testing.T) {
	a, b := newTestRecorder(t, t0), newTestRecorder(t, t0)
	a.Record("poll", t0, t0.Add(time.Millisecond), Outcome{})
	b.Record("sendinvitation", t0, t0.Add(time.Millisecond), Outcome{})
	b.RecordOperation("invite", t0, t0.Add(3*time.Second), Outcome{Class: ClassOffline})
	ra, rb := mustReport(t, a, t0.Add(time.Second)), mustReport(t, b, t0.Add(time.Second))
	m, err := Merge(ra, rb)
	if err != nil {
		t.Fatal(err)
	}
	if m.Requests != 2 || m.Errors != 0 || m.Series.Points[0].Requests != 2 || m.ByClass != nil {
		t.Errorf("merged totals %d requests %d errors, second 0 %d, by class %v; want the 2 calls, no error",
			m.Requests, m.Errors, m.Series.Points[0].Requests, m.ByClass)
	}
	inv := m.Operations["invite"]
	if len(m.Operations) != 1 || inv.Requests != 1 || inv.Errors != 1 || inv.ErrorsByClass[ClassOffline] != 1 ||
		!near(time.Duration(inv.Latency.Max), 3*time.Second) {
		t.Errorf("merged operations = %v, invite %+v", m.Operations, inv)
	}
}

// TestMergeGaugesShardEndsFirst: a shard that ends before the other keeps
// its clients in the merged gauges, at its last sample, instead of the
// fleet shrinking to the shard still running.
func TestMergeGaugesShardEndsFirst(t *testing.T) {
	mk := func(secs int, g Gauges) *Report {
		r := newTestRecorder(t, t0)
		for sec := range secs {
			r.Sample(t0.Add(time.Duration(sec)*time.Second+300*time.Millisecond), g)
		}
		return mustReport(t, r, t0.Add(time.Duration(secs)*time.Second))
	}
	short := mk(5, Gauges{Clients: 10, Green: 8, Red: 2, Outbox: 3})
	long := mk(10, Gauges{Clients: 30, Green: 30})
	m, err := Merge(short, long)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []int{4, 5, 9} {
		if p := m.Series.Points[sec]; p.Clients != 40 || p.Green != 38 || p.Red != 2 || p.Outbox != 3 {
			t.Errorf("second %d: %+v, want 40 clients, 38 Green, 2 Red, outbox 3", sec, p)
		}
	}
}

// oneRunReport is a shard report of a run of cfg from start to end, with a
// little traffic and gauges.
func oneRunReport(t *testing.T, cfg RunConfig, shard string, start, end time.Time) *Report {
	t.Helper()
	r := newTestRecorder(t, start)
	for at := start; at.Before(end); at = at.Add(time.Second) {
		r.Record("poll", at, at.Add(time.Millisecond), Outcome{})
		r.Sample(at.Add(100*time.Millisecond), Gauges{Clients: 5, Green: 5})
	}
	rep := mustReport(t, r, end)
	rep.Config = cfg
	rep.Config.Shard = shard
	return rep
}

// TestMergeOneRun: Merge refuses reports that are not of one run, naming
// the two reports and the field, and reports a missing shard as partial.
func TestMergeOneRun(t *testing.T) {
	cfg := RunConfig{Clients: 2000, RampUp: Duration(10 * time.Second), Duration: Duration(time.Minute),
		PollInterval: Duration(10 * time.Second), Outages: []string{"down:20s@35s"}, Seed: 1}
	ext := cfg
	ext.Clients, ext.URLs, ext.Outages = 100, []string{"https://reg.staging"}, nil
	end := t0.Add(time.Minute)
	shard := func(s string) *Report { return oneRunReport(t, cfg, s, t0, end) }
	later := func(r *Report, d time.Duration) *Report {
		x := oneRunReport(t, r.Config, r.Config.Shard, r.Start.Add(d), r.End.Add(d))
		return x
	}
	reseeded := shard("1/2")
	reseeded.Config.Seed = 99
	otherClients := shard("1/2")
	otherClients.Config.Clients = 3000
	whole := oneRunReport(t, cfg, "", t0, end)
	partial, err := Merge(shard("0/4"), shard("2/4"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		in      []*Report
		field   string // "": merged
		missing []string
	}{
		{"two halves", []*Report{shard("0/2"), shard("1/2")}, "", nil},
		{"own seeds", []*Report{shard("0/2"), reseeded}, "", nil},
		{"started a little apart", []*Report{shard("0/2"), later(shard("1/2"), 20*time.Second)}, "", nil},
		{"same shard twice", []*Report{shard("0/2"), shard("1/2"), shard("0/2")}, "shard", nil},
		{"whole fleet twice", []*Report{whole, whole}, "shard", nil},
		{"embedded 2000 with external 100", []*Report{shard("0/2"), oneRunReport(t, ext, "1/2", t0, end)}, "config.urls", nil},
		{"other fleet size", []*Report{shard("0/2"), otherClients}, "config.clients", nil},
		{"other shard count", []*Report{shard("0/2"), shard("1/3")}, "shard count", nil},
		{"shard with whole fleet", []*Report{shard("0/2"), whole}, "shard count", nil},
		{"not overlapping", []*Report{shard("0/2"), later(shard("1/2"), 2*time.Minute)}, "start/end", nil},
		{"one of two", []*Report{shard("1/2")}, "", []string{"0/2"}},
		{"two of four", []*Report{shard("3/4"), shard("1/4")}, "", []string{"0/4", "2/4"}},
		{"partial completed", []*Report{partial, shard("1/4"), shard("3/4")}, "", nil},
		{"partial and a shard it has", []*Report{partial, shard("2/4")}, "shard", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Merge(tt.in...)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if fmt.Sprint(m.MissingShards) != fmt.Sprint(tt.missing) || m.Partial() != (tt.missing != nil) {
					t.Errorf("missing %v partial %v, want %v", m.MissingShards, m.Partial(), tt.missing)
				}
				return
			}
			var me *MismatchError
			if !errors.As(err, &me) || !errors.Is(err, ErrIncompatible) {
				t.Fatalf("Merge = %v, want a *MismatchError wrapping ErrIncompatible", err)
			}
			if me.Field != tt.field {
				t.Errorf("field %q, want %q: %v", me.Field, tt.field, err)
			}
			for _, want := range []string{fmt.Sprintf("report %d", me.A), fmt.Sprintf("report %d", me.B), tt.field} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}

	// The reports are named by their source when it is set.
	a, b := shard("0/2"), shard("0/2")
	a.Source, b.Source = "shard-0.json", "copy.json"
	if _, err := Merge(a, b); err == nil || !strings.Contains(err.Error(), "report 0 (shard-0.json) and report 1 (copy.json)") {
		t.Errorf("error %v does not name the files", err)
	}

	// A partial merge says so in the text and the HTML.
	m, err := Merge(shard("0/2"))
	if err != nil {
		t.Fatal(err)
	}
	var text, page bytes.Buffer
	if err := TextReporter(m)(&text); err != nil {
		t.Fatal(err)
	}
	if err := HTMLReporter(m)(&page); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(text.String(), "\n"); !strings.Contains(first, "merged from 1 of 2 shards  partial: shard 1/2 missing") {
		t.Errorf("first line %q does not say the report is partial", first)
	}
	if !strings.Contains(page.String(), "partial: shard 1/2 missing") {
		t.Error("the HTML does not say the report is partial")
	}
	back, err := ReadReport(bytes.NewReader(encodeJSON(t, m)))
	if err != nil || fmt.Sprint(back.MissingShards) != "[1/2]" {
		t.Errorf("missing shards read back: %v, %v", back.MissingShards, err)
	}
}

// TestConfigDiff: every field that differs, by its JSON name, in the order
// of RunConfig; empty and nil lists equal.
func TestConfigDiff(t *testing.T) {
	a := RunConfig{Clients: 10, RampUp: Duration(time.Second), Outages: []string{}, Seed: 1}
	b := RunConfig{Clients: 20, RampUp: Duration(time.Second), Seed: 2, Naive: true}
	got := ConfigDiff(a, b)
	want := []FieldDiff{{"config.clients", "10", "20"}, {"config.naive", "false", "true"}, {"config.seed", "1", "2"}}
	if !slices.Equal(got, want) {
		t.Errorf("ConfigDiff = %v, want %v", got, want)
	}
	if d := ConfigDiff(a, a); len(d) != 0 {
		t.Errorf("ConfigDiff(a, a) = %v", d)
	}
}
