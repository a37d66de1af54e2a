package loadgen_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/regfleet/regfleet/loadgen"
)

func ExampleRecorder() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rec, err := loadgen.NewRecorder(loadgen.RecorderConfig{Start: start})
	if err != nil {
		panic(err)
	}
	// 100 polls a second for 10 s, answered in 20 ms, except those meant
	// for the 6th second, which a stalled server answers only at its end.
	for i := range 1000 {
		intended := start.Add(time.Duration(i) * 10 * time.Millisecond)
		done := intended.Add(20 * time.Millisecond)
		if intended.Sub(start).Truncate(time.Second) == 5*time.Second {
			done = start.Add(6 * time.Second)
		}
		rec.Record("poll", intended, done, loadgen.Outcome{Endpoint: "http://reg1.example"})
	}
	rec.Sample(start.Add(5500*time.Millisecond), loadgen.Gauges{Clients: 100, Green: 100})

	report, err := rec.Report(start.Add(10 * time.Second))
	if err != nil {
		panic(err)
	}
	poll := report.Commands["poll"]
	fmt.Println("requests:", poll.Requests)
	fmt.Println("p50:", poll.Latency.P50)
	fmt.Println("p99:", poll.Latency.P99)
	fmt.Println("second 5 p99:", report.Series.Points[5].P99)
	fmt.Println("green at 5.5 s:", report.Series.Points[5].Green)
	// Output:
	// requests: 1000
	// p50: 20.015ms
	// p99: 900.095ms
	// second 5 p99: 991.231ms
	// green at 5.5 s: 100
}

func ExampleMerge() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// Two shards of one run, each with half of the clients; the second
	// started 1.5 s later.
	shard := func(from time.Time, latency time.Duration) *loadgen.Report {
		rec, err := loadgen.NewRecorder(loadgen.RecorderConfig{Start: from})
		if err != nil {
			panic(err)
		}
		for i := range 500 {
			at := from.Add(time.Duration(i) * 20 * time.Millisecond)
			rec.Record("poll", at, at.Add(latency), loadgen.Outcome{})
		}
		r, err := rec.Report(from.Add(10 * time.Second))
		if err != nil {
			panic(err)
		}
		return r
	}
	a := shard(start, 10*time.Millisecond)
	b := shard(start.Add(1500*time.Millisecond), 30*time.Millisecond)

	all, err := loadgen.Merge(a, b)
	if err != nil {
		panic(err)
	}
	fmt.Println("requests:", all.Requests)
	fmt.Println("min:", all.Total.Min, "p99:", all.Total.P99)
	fmt.Println("elapsed:", all.Elapsed())
	fmt.Println("second 1 requests:", all.Series.Points[1].Requests)
	// Output:
	// requests: 1000
	// min: 10ms p99: 30.015ms
	// elapsed: 11.5s
	// second 1 requests: 75
}

func ExampleParseThreshold() {
	t, err := loadgen.ParseThreshold("p99{login}<=500ms")
	if err != nil {
		panic(err)
	}
	fmt.Println(t.Metric, t.Percentile, t.Command, t.Op, t.Limit)

	_, err = loadgen.ParseThreshold("p99<500")
	fmt.Println(err)

	// Check a report against thresholds: a CLI exits 1 if any is crossed.
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rec, _ := loadgen.NewRecorder(loadgen.RecorderConfig{Start: start})
	for i := range 100 {
		o := loadgen.Outcome{}
		if i < 3 {
			o.Class = loadgen.ClassTimeout
		}
		rec.Record("login", start, start.Add(time.Duration(i+1)*10*time.Millisecond), o)
	}
	report, _ := rec.Report(start.Add(10 * time.Second))
	var ts []loadgen.Threshold
	for _, s := range []string{"p99{login}<=500ms", "errors<1%", "rps>5"} {
		t, err := loadgen.ParseThreshold(s)
		if err != nil {
			panic(err)
		}
		ts = append(ts, t)
	}
	for _, c := range loadgen.Check(report, ts...) {
		fmt.Println(c)
	}
	// Output:
	// p 99 login <= 0.5
	// bad threshold "p99<500": value "500" needs a unit, e.g. 500ms
	// p99{login}<=500ms crossed: 990.2ms
	// errors<1% crossed: 3%
}

func ExamplePacer_Intended() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// 100 sends a second after a 2 s linear ramp-up.
	p, err := loadgen.NewPacer(loadgen.PacerConfig{Rate: 100, RampUp: 2 * time.Second, Start: start})
	if err != nil {
		panic(err)
	}
	for _, n := range []int64{0, 1, 25, 100, 101, 200} {
		fmt.Printf("send %d at %s\n", n, p.Intended(n).Sub(start))
	}
	fmt.Println("due by 3 s:", p.Due(start.Add(3*time.Second)))
	// Output:
	// send 0 at 0s
	// send 1 at 200ms
	// send 25 at 1s
	// send 100 at 2s
	// send 101 at 2.01s
	// send 200 at 3s
	// due by 3 s: 200
}

func ExampleHgrmReporter() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rec, _ := loadgen.NewRecorder(loadgen.RecorderConfig{Start: start})
	for i := 1; i <= 4; i++ {
		rec.Record("poll", start, start.Add(time.Duration(i)*time.Millisecond), loadgen.Outcome{})
	}
	report, _ := rec.Report(start.Add(time.Second))
	if err := loadgen.HgrmReporter(report, "poll")(os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	//        Value   Percentile   TotalCount 1/(1-Percentile)
	//
	//        1.000     0.000000            1         1.00
	//        1.000     0.100000            1         1.11
	//        1.000     0.200000            1         1.25
	//        2.000     0.300000            2         1.43
	//        2.000     0.400000            2         1.67
	//        2.000     0.500000            2         2.00
	//        3.001     0.550000            3         2.22
	//        3.001     0.600000            3         2.50
	//        3.001     0.650000            3         2.86
	//        3.001     0.700000            3         3.33
	//        3.001     0.750000            3         4.00
	//        4.001     0.775000            4         4.44
	//        4.001     1.000000            4          inf
	// #[Mean    =        2.501, StdDeviation   =        1.118]
	// #[Max     =        4.001, Total count    =            4]
	// #[Buckets =           22, SubBuckets     =         2048]
}

// ExampleRun runs a small fleet against the embedded simulated cluster,
// with every instance down for 5 s in the middle, and prints the summary.
func ExampleRun() {
	report, err := loadgen.Run(context.Background(), loadgen.Config{
		Clients:      50,
		RampUp:       2 * time.Second,
		Duration:     20 * time.Second,
		PollInterval: 2 * time.Second,
		Outages:      []loadgen.Outage{{Mode: loadgen.OutageDown, At: 8 * time.Second, Duration: 5 * time.Second}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = loadgen.TextReporter(report)(os.Stdout)
}
