package loadgen

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// t0 is the start of the synthetic runs of the tests: a whole second.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestRecorder(t testing.TB, start time.Time) *Recorder {
	t.Helper()
	r, err := NewRecorder(RecorderConfig{Start: start, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustReport(t testing.TB, r *Recorder, end time.Time) *Report {
	t.Helper()
	rep, err := r.Report(end)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// near reports whether got is within HDR precision (0.1%, 3 digits) of want.
func near(got, want time.Duration) bool { return within(got, want, 500) }

// nearSeries is near for the series' histograms (1%, 2 digits).
func nearSeries(got, want time.Duration) bool { return within(got, want, 100) }

func within(got, want time.Duration, frac time.Duration) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff <= want/frac+time.Microsecond
}

func TestRecorderLatencyFromIntendedTime(t *testing.T) {
	r := newTestRecorder(t, t0)
	// Sent late (the caller was stuck) and answered fast: the latency is
	// counted from the intended time.
	for i := range 100 {
		intended := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		r.Record("poll", intended, intended.Add(time.Duration(i+1)*time.Millisecond), Outcome{Endpoint: "http://a"})
	}
	rep := mustReport(t, r, t0.Add(2*time.Second))
	c := rep.Commands["poll"]
	if c == nil || c.Requests != 100 || c.Errors != 0 {
		t.Fatalf("poll = %+v", c)
	}
	if got := time.Duration(c.Latency.P50); !near(got, 50*time.Millisecond) {
		t.Errorf("p50 = %s, want 50ms", got)
	}
	if got := time.Duration(c.Latency.Max); !near(got, 100*time.Millisecond) {
		t.Errorf("max = %s, want 100ms", got)
	}
	if got := time.Duration(c.Latency.Min); !near(got, time.Millisecond) {
		t.Errorf("min = %s, want 1ms", got)
	}
	if rep.Total != c.Latency || rep.Requests != 100 {
		t.Errorf("total %+v (%d requests) differs from the only command's %+v", rep.Total, rep.Requests, c.Latency)
	}
	if e := rep.Endpoints["http://a"]; e.Requests != 100 {
		t.Errorf("endpoint = %+v", e)
	}
	if rep.Operations != nil {
		t.Errorf("operations = %v, want none recorded", rep.Operations)
	}
}

// TestRecorderOperationsApartFromCalls: a user operation and the protocol
// call it makes are one request in the totals, not two; the operation has
// figures of its own, from its intended time.
func TestRecorderOperationsApartFromCalls(t *testing.T) {
	r := newTestRecorder(t, t0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// An invitation sent at once: the operation and its call.
	r.RecordOperation("invite", ms(0), ms(20), Outcome{Endpoint: "http://a"})
	r.Record("sendinvitation", ms(1), ms(20), Outcome{Endpoint: "http://a"})
	// One queued while the client was offline, its call made 3 s later.
	r.RecordOperation("invite", ms(100), ms(3100), Outcome{})
	r.Record("sendinvitation", ms(3090), ms(3100), Outcome{Endpoint: "http://a"})
	// One that failed before any call, and one beyond the histogram.
	r.RecordOperation("invite", ms(200), ms(200), Outcome{Class: ClassOffline, Endpoint: "http://b"})
	r.RecordOperation("invite", ms(300), ms(300).Add(2*time.Hour), Outcome{})
	r.RecordOperation("", ms(400), ms(401), Outcome{})
	l := r.Live(ms(3999))
	rep := mustReport(t, r, t0.Add(4*time.Second))

	if rep.Requests != 2 || rep.Errors != 0 || rep.Total.Count != 2 || len(rep.Commands) != 1 {
		t.Errorf("totals: %d requests %d errors %d latencies, commands %v; want the 2 calls only",
			rep.Requests, rep.Errors, rep.Total.Count, rep.CommandNames())
	}
	if rep.ByClass != nil || rep.Clipped != 0 {
		t.Errorf("errors by class %v, clipped %d: the operations' count", rep.ByClass, rep.Clipped)
	}
	if l.Requests != 2 || l.Errors != 0 {
		t.Errorf("live %d requests %d errors, want 2 and 0", l.Requests, l.Errors)
	}
	var sum int64
	for _, p := range rep.Series.Points {
		sum += p.Requests
	}
	if p := rep.Series.Points; sum != 2 || p[0].Requests != 1 || p[3].Requests != 1 || p[0].Errors != 0 {
		t.Errorf("series holds %d requests (%+v), want the 2 calls", sum, p)
	}
	if !nearSeries(time.Duration(rep.Series.Points[0].Max), 19*time.Millisecond) {
		t.Errorf("second 0 max %s, want the call's 19ms", rep.Series.Points[0].Max)
	}
	if a, ok := rep.Endpoints["http://b"]; ok || rep.Endpoints["http://a"].Requests != 2 {
		t.Errorf("endpoints = %v (b: %v), want a with the 2 calls only", rep.Endpoints, a)
	}

	if got := rep.OperationNames(); fmt.Sprint(got) != fmt.Sprint([]string{unnamed, "invite"}) {
		t.Errorf("operations %v", got)
	}
	inv := rep.Operations["invite"]
	if inv == nil || inv.Requests != 4 || inv.Errors != 1 || inv.ErrorsByClass[ClassOffline] != 1 || inv.Latency.Count != 4 {
		t.Fatalf("invite = %+v", inv)
	}
	if got := time.Duration(inv.Latency.Min); got != 0 {
		t.Errorf("invite min %s, want 0", got)
	}
	if got := time.Duration(inv.Latency.P50); !near(got, 20*time.Millisecond) {
		t.Errorf("invite p50 %s, want 20ms from its intended time", got)
	}
	if got := time.Duration(inv.Latency.Max); !near(got, time.Hour) {
		t.Errorf("invite max %s, want the 1 h top of the range", got)
	}
	h, err := rep.Histogram("invite")
	if err != nil || h.TotalCount() != 4 {
		t.Fatalf("Histogram(invite) = %v values, %v; want the operation's 4", h, err)
	}
	if got := usDur(h.ValueAtPercentile(75)); !near(got, 3*time.Second) {
		t.Errorf("invite p75 %s, want the queued one's 3s from its intended time", got)
	}
	if h, err := rep.Histogram(""); err != nil || h.TotalCount() != 2 {
		t.Errorf("Histogram(\"\") = %d values, %v; want the 2 calls", h.TotalCount(), err)
	}
}

// TestRecorderCommandShadowsOperation: an operation named like a command
// stays apart from it; Histogram finds the command first.
func TestRecorderCommandShadowsOperation(t *testing.T) {
	r := newTestRecorder(t, t0)
	r.Record("x", t0, t0.Add(time.Millisecond), Outcome{})
	r.RecordOperation("x", t0, t0.Add(time.Second), Outcome{})
	rep := mustReport(t, r, t0.Add(time.Second))
	if rep.Commands["x"].Requests != 1 || rep.Operations["x"].Requests != 1 || rep.Requests != 1 {
		t.Fatalf("commands %v operations %v", rep.Commands, rep.Operations)
	}
	h, err := rep.Histogram("x")
	if err != nil || !near(usDur(h.Max()), time.Millisecond) {
		t.Errorf("Histogram(x) max %s, %v; want the command's 1ms", usDur(h.Max()), err)
	}
}

func TestRecorderClampsAndClips(t *testing.T) {
	r := newTestRecorder(t, t0)
	r.Record("x", t0.Add(time.Second), t0, Outcome{})                // done before intended: 0
	r.Record("x", t0, t0.Add(2*time.Hour), Outcome{})                // beyond the range: clipped
	r.Record("y", t0, t0.Add(2*time.Minute), Outcome{})              // minutes: within the range
	r.Record("", t0, t0.Add(time.Millisecond), Outcome{})            // no name
	r.Record("x", t0.Add(-time.Hour), t0.Add(-time.Hour), Outcome{}) // before the start: second 0
	rep := mustReport(t, r, t0.Add(3*time.Second))
	if rep.Clipped != 1 {
		t.Errorf("clipped = %d, want 1", rep.Clipped)
	}
	if got := time.Duration(rep.Commands["x"].Latency.Max); !near(got, time.Hour) {
		t.Errorf("max = %s, want the 1 h top of the range", got)
	}
	if got := time.Duration(rep.Commands["y"].Latency.Max); !near(got, 2*time.Minute) {
		t.Errorf("a 2 min latency is recorded as %s (version 2 clipped it at 60 s)", got)
	}
	if got := time.Duration(rep.Commands["x"].Latency.Min); got != 0 {
		t.Errorf("min = %s, want 0", got)
	}
	if rep.Commands[unnamed] == nil {
		t.Errorf("the empty command name is not recorded as %q: %v", unnamed, rep.CommandNames())
	}
	if got := rep.Series.Points[0].Requests; got != 4 {
		t.Errorf("second 0 has %d requests, want 4 (one from before the start)", got)
	}
}

func TestRecorderErrorsByClass(t *testing.T) {
	r := newTestRecorder(t, t0)
	outcomes := []Outcome{
		{}, {Class: ClassTimeout, Endpoint: "http://a"}, {Class: ClassTimeout}, {Class: ClassRefused, Endpoint: "http://b"},
		{Endpoint: "http://a"},
	}
	for i, o := range outcomes {
		r.Record("sendinvitation", t0, t0.Add(time.Duration(i+1)*time.Millisecond), o)
	}
	r.Record("login", t0, t0.Add(time.Millisecond), Outcome{Class: ClassException})
	rep := mustReport(t, r, t0.Add(time.Second))
	inv := rep.Commands["sendinvitation"]
	if inv.Requests != 5 || inv.Errors != 3 {
		t.Errorf("sendinvitation = %d requests %d errors, want 5 and 3", inv.Requests, inv.Errors)
	}
	if inv.ErrorsByClass[ClassTimeout] != 2 || inv.ErrorsByClass[ClassRefused] != 1 || len(inv.ErrorsByClass) != 2 {
		t.Errorf("sendinvitation errors by class = %v", inv.ErrorsByClass)
	}
	want := map[string]int64{ClassTimeout: 2, ClassRefused: 1, ClassException: 1}
	if fmt.Sprint(rep.ByClass) != fmt.Sprint(want) {
		t.Errorf("errors by class = %v, want %v", rep.ByClass, want)
	}
	if rep.Errors != 4 || rep.Requests != 6 {
		t.Errorf("totals = %d errors of %d, want 4 of 6", rep.Errors, rep.Requests)
	}
	if a, b := rep.Endpoints["http://a"], rep.Endpoints["http://b"]; a != (EndpointStats{Requests: 2, Errors: 1}) || b != (EndpointStats{Requests: 1, Errors: 1}) {
		t.Errorf("endpoints = %v", rep.Endpoints)
	}
	if got := rep.Series.Points[0].Errors; got != 4 {
		t.Errorf("second 0 has %d errors, want 4", got)
	}
}

func TestRecorderCapsNames(t *testing.T) {
	r := newTestRecorder(t, t0)
	for i := range maxKeys + 10 {
		r.Record("poll", t0, t0, Outcome{Endpoint: fmt.Sprintf("http://e%d", i)})
	}
	for i := range maxCommands + 5 {
		r.Record(fmt.Sprintf("cmd%d", i), t0, t0, Outcome{})
	}
	for i := range maxCommands + 7 {
		r.RecordOperation(fmt.Sprintf("op%d", i), t0, t0, Outcome{})
	}
	rep := mustReport(t, r, t0)
	if len(rep.Operations) != maxCommands || rep.Operations[OtherName].Requests != 8 {
		t.Errorf("%d operations, %v under %s; want the cap %d with 8", len(rep.Operations), rep.Operations[OtherName], OtherName, maxCommands)
	}
	if len(rep.Endpoints) != maxKeys {
		t.Errorf("%d endpoints, want the cap %d", len(rep.Endpoints), maxKeys)
	}
	if got := rep.Endpoints[OtherName].Requests; got != 11 {
		t.Errorf("%s endpoint has %d requests, want 11", OtherName, got)
	}
	if len(rep.Commands) != maxCommands {
		t.Errorf("%d commands, want the cap %d", len(rep.Commands), maxCommands)
	}
	if rep.Requests != int64(maxKeys+10+maxCommands+5) {
		t.Errorf("%d requests: some were dropped", rep.Requests)
	}
}

func TestRecorderSeries(t *testing.T) {
	start := t0.Add(300 * time.Millisecond) // the series counts whole Unix seconds
	r := newTestRecorder(t, start)
	// Second 0: 10 requests of 1 ms; second 2: 100 requests of 1..100 ms,
	// one failing; a request intended in second 1 that completes in second 3
	// counts in second 1.
	for range 10 {
		r.Record("poll", t0.Add(500*time.Millisecond), t0.Add(501*time.Millisecond), Outcome{})
	}
	for i := range 100 {
		at := t0.Add(2*time.Second + time.Duration(i)*time.Millisecond)
		o := Outcome{}
		if i == 0 {
			o.Class = ClassReset
		}
		r.Record("poll", at, at.Add(time.Duration(i+1)*time.Millisecond), o)
	}
	r.Record("poll", t0.Add(time.Second), t0.Add(3*time.Second), Outcome{})
	r.RecordAttempt(t0.Add(2500*time.Millisecond), "http://a")
	r.Sample(t0.Add(1500*time.Millisecond), Gauges{Clients: 10, Green: 7, Red: 3, Outbox: 5})
	r.Sample(t0.Add(2900*time.Millisecond), Gauges{Clients: 10, Green: 1, Red: 9})
	r.Sample(t0.Add(2990*time.Millisecond), Gauges{Clients: 10, Green: 10}) // replaces the last one
	rep := mustReport(t, r, t0.Add(4*time.Second))

	if rep.Series.Start != t0.Unix() {
		t.Errorf("series starts at %d, want %d", rep.Series.Start, t0.Unix())
	}
	if len(rep.Series.Points) != 4 {
		t.Fatalf("%d points, want 4 (seconds 0 to 3; the run ends as second 4 starts)", len(rep.Series.Points))
	}
	p := rep.Series.Points
	if p[0].Requests != 10 || p[1].Requests != 1 || p[2].Requests != 100 || p[3].Requests != 0 {
		t.Errorf("requests per second = %d %d %d %d", p[0].Requests, p[1].Requests, p[2].Requests, p[3].Requests)
	}
	if p[2].Errors != 1 || p[2].Attempts != 1 {
		t.Errorf("second 2: %d errors %d attempts, want 1 and 1", p[2].Errors, p[2].Attempts)
	}
	if !nearSeries(time.Duration(p[2].P99), 99*time.Millisecond) || !nearSeries(time.Duration(p[2].P50), 50*time.Millisecond) ||
		!nearSeries(time.Duration(p[2].Max), 100*time.Millisecond) {
		t.Errorf("second 2 latencies p50 %s p99 %s max %s", p[2].P50, p[2].P99, p[2].Max)
	}
	if !nearSeries(time.Duration(p[1].P99), 2*time.Second) {
		t.Errorf("second 1 p99 %s, want 2s", p[1].P99)
	}
	if !p[1].Sampled || p[1].SampleMs != 500 || p[1].Green != 7 || p[1].Red != 3 || p[1].Outbox != 5 || p[1].Clients != 10 {
		t.Errorf("second 1 gauges = %+v", p[1])
	}
	if !p[2].Sampled || p[2].Green != 10 || p[2].SampleMs != 990 {
		t.Errorf("second 2 gauges = %+v, want the later sample", p[2])
	}
	if p[0].Sampled || p[3].Sampled {
		t.Error("seconds without a sample are marked sampled")
	}
}

func TestRecorderLive(t *testing.T) {
	r := newTestRecorder(t, t0)
	for i := range 50 {
		o := Outcome{}
		if i%10 == 0 {
			o.Class = ClassTimeout
		}
		r.Record("poll", t0.Add(time.Second), t0.Add(time.Second+time.Duration(i+1)*time.Millisecond), o)
	}
	r.RecordLag(t0, t0.Add(time.Second))
	r.Sample(t0.Add(2*time.Second), Gauges{Clients: 3, Green: 2, Red: 1})
	l := r.Live(t0.Add(2*time.Second + 100*time.Millisecond))
	if l.Requests != 50 || l.Errors != 5 || l.Rate != 50 || l.Late != 1 || l.Gauges.Green != 2 {
		t.Errorf("live = %+v", l)
	}
	if !nearSeries(l.P99, 50*time.Millisecond) {
		t.Errorf("live p99 = %s, want 50ms", l.P99)
	}
	if s := l.String(); s != "2s  green 2  red 1  50 req/s  p99 50.18ms  errors 5 (10.00%)  late 1  outbox 0" {
		t.Errorf("live line = %q", s)
	}
	l.Phase, l.Left = PhaseOutage, 41700*time.Millisecond
	if s := l.String(); s != "2s  outage, 42s left  green 2  red 1  50 req/s  p99 50.18ms  errors 5 (10.00%)  late 1  outbox 0" {
		t.Errorf("live line with its phase = %q", s)
	}
}

func TestRecorderSchedule(t *testing.T) {
	r, err := NewRecorder(RecorderConfig{Start: t0, LateTolerance: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.RecordLag(t0, t0)
	r.RecordLag(t0, t0.Add(5*time.Millisecond))   // at the tolerance: on time
	r.RecordLag(t0, t0.Add(6*time.Millisecond))   // late
	r.RecordLag(t0, t0.Add(-time.Millisecond))    // early: lag 0
	r.RecordLag(t0, t0.Add(200*time.Millisecond)) // late
	rep := mustReport(t, r, t0)
	s := rep.Schedule
	if s.Sent != 5 || s.Late != 2 || s.Offered != 0 || s.Missed != 0 || time.Duration(s.Tolerance) != 5*time.Millisecond {
		t.Errorf("schedule = %+v", s)
	}
	if !near(time.Duration(s.Lag.Max), 200*time.Millisecond) || s.Lag.Min != 0 || s.Lag.Count != 5 {
		t.Errorf("lag = %+v", s.Lag)
	}
}

func TestNewRecorderRejectsBadConfig(t *testing.T) {
	for _, cfg := range []RecorderConfig{{Shards: -1}, {LateTolerance: -time.Second}, {MaxSeconds: -1}} {
		if _, err := NewRecorder(cfg); err == nil {
			t.Errorf("NewRecorder(%+v) accepted", cfg)
		}
	}
	r, err := NewRecorder(RecorderConfig{Shards: 1000})
	if err != nil || len(r.shards) != maxShards {
		t.Errorf("1000 shards: %v, %d shards, want the cap %d", err, len(r.shards), maxShards)
	}
}

func TestRecorderMaxSeconds(t *testing.T) {
	r, err := NewRecorder(RecorderConfig{Start: t0, MaxSeconds: 10})
	if err != nil {
		t.Fatal(err)
	}
	r.Record("poll", t0.Add(time.Hour), t0.Add(time.Hour), Outcome{})
	rep := mustReport(t, r, t0.Add(time.Hour))
	if n := len(rep.Series.Points); n != 10 || rep.Series.Points[9].Requests != 1 {
		t.Errorf("%d points, last %+v: want 10 with the late record in the last", n, rep.Series.Points[n-1])
	}
}

// TestRecorderConcurrent records from many goroutines while reports are
// taken, and checks that the final histogram equals one recorded serially.
func TestRecorderConcurrent(t *testing.T) {
	const workers, each = 8, 2000
	r := newTestRecorder(t, t0)
	want := newHistogram()
	lat := func(w, i int) time.Duration { return time.Duration((w*each+i)%5000+1) * 37 * time.Microsecond }
	for w := range workers {
		for i := range each {
			_ = want.RecordValue(lat(w, i).Microseconds())
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				at := t0.Add(time.Duration(i) * time.Millisecond)
				r.Record("poll", at, at.Add(lat(w, i)), Outcome{Endpoint: "http://a"})
				r.RecordOperation("invite", at, at.Add(lat(w, i)), Outcome{Endpoint: "http://a"})
				if i%100 == 0 {
					r.Sample(at, Gauges{Green: int64(i)})
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := r.Report(t0.Add(time.Second)); err != nil {
				t.Error(err)
				return
			}
			r.Live(t0.Add(time.Second))
		}
	})
	wg.Wait()
	rep := mustReport(t, r, t0.Add(2*time.Second))
	h, err := rep.Histogram("poll")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Equals(want) {
		t.Errorf("concurrent histogram differs: %d values, want %d", h.TotalCount(), want.TotalCount())
	}
	oh, err := rep.Histogram("invite")
	if err != nil {
		t.Fatal(err)
	}
	if !oh.Equals(want) || rep.Operations["invite"].Requests != workers*each {
		t.Errorf("concurrent operation histogram differs: %d values, want %d", oh.TotalCount(), want.TotalCount())
	}
	if rep.Requests != workers*each {
		t.Errorf("%d requests, want %d: operations counted", rep.Requests, workers*each)
	}
	var sum int64
	for _, p := range rep.Series.Points {
		sum += p.Requests
	}
	if sum != workers*each || rep.Endpoints["http://a"].Requests != workers*each {
		t.Errorf("series holds %d requests, endpoint %d, want %d", sum, rep.Endpoints["http://a"].Requests, workers*each)
	}
}

// reportCPU reports the process CPU time per operation since cpu0.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if d := cpuTime() - cpu0; d > 0 && b.N > 0 {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkRecord measures one Record call from parallel goroutines, as the
// engine's many clients make them.
func BenchmarkRecord(b *testing.B) {
	r, err := NewRecorder(RecorderConfig{Start: t0})
	if err != nil {
		b.Fatal(err)
	}
	cmds := []string{"poll", "invite", "getchanges"}
	eps := []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(1, 2))
		i := 0
		for pb.Next() {
			i++
			// 10,000 records per simulated second per goroutine,
			// latencies from 100 µs to 100 ms, 1% errors.
			at := t0.Add(time.Duration(i) * 100 * time.Microsecond)
			o := Outcome{Endpoint: eps[i%len(eps)]}
			if i%100 == 0 {
				o.Class = ClassTimeout
			}
			r.Record(cmds[i%len(cmds)], at, at.Add(time.Duration(100+rng.IntN(100_000))*time.Microsecond), o)
		}
	})
}

// BenchmarkRecordSerial is the cost of one Record without contention.
func BenchmarkRecordSerial(b *testing.B) {
	r, err := NewRecorder(RecorderConfig{Start: t0})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	for i := 0; b.Loop(); i++ {
		at := t0.Add(time.Duration(i) * 100 * time.Microsecond)
		r.Record("poll", at, at.Add(time.Duration(100+i%100_000)*time.Microsecond), Outcome{Endpoint: "http://a"})
	}
}

// BenchmarkMutexHistogram is the naive alternative: one histogram behind one
// mutex, for comparison with BenchmarkRecord.
func BenchmarkMutexHistogram(b *testing.B) {
	var mu sync.Mutex
	h := hdr.New(HistogramLowest, HistogramHighest, HistogramDigits)
	b.ReportAllocs()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(1, 2))
		for pb.Next() {
			v := int64(100 + rng.IntN(100_000))
			mu.Lock()
			_ = h.RecordValue(v)
			mu.Unlock()
		}
	})
}
