// Package loadgen runs fleets of simulated regfleet SDK clients against a
// Registration Server cluster and reports what they saw: latency,
// throughput, errors, reachability, delivery, and what happens during and
// after an outage.
//
// Run is the engine: it starts Config.Clients real client.Client values
// (each logs in as a seeded user, registers a device, polls through the
// SDK's own poll loop and sends invitations to random other users of the
// fleet), against Config.URLs or, when there are none, against an embedded
// regsim cluster whose faults it switches for Config.Outages. It samples
// the fleet's Green/Red state and outbox depth once a second, waits in a
// bounded drain phase for queued invitations to arrive, and returns a
// Report. Its figures say when they cannot be trusted, in the report's
// first lines (Report.Warnings):
//
//   - Every timed action of a simulated client (its polls and health
//     probes, client.CallInfo.Due, and its invitations) goes through the
//     schedule: its lag is recorded and its latency counts from when it was
//     due, so a generator too busy to keep time shows in the figures.
//   - The generator measures itself (GeneratorStats: its CPU share of the
//     cores it may use, the scheduler's latency) and flags a saturated run.
//   - Each invitation is followed from the server's acceptance to its
//     receipt (the user operation "deliver"); one not received is lost only
//     when its recipient completed a poll begun after the acceptance, and
//     pending otherwise.
//   - Clients that could not log in or register are counted with the
//     server's reasons (SetupStats); a run in which none started returns
//     ErrNoClientStarted with its report.
//
// The run fits its connections under the process's open-file limit: the
// fleet shares one pool by default, capped to what the limit leaves.
// The clients talk HTTP/1.1 through a lean transport (internal/h1) that
// does its I/O on the calling goroutine and holds nothing but the socket
// for an idle connection, so that thousands of simulated desktops, each
// with its own connection (ConnPerClient), cost the generator little;
// Config.Transport TransportNetHTTP puts net/http's transport, the SDK's
// default for applications, in its place to compare.
//
// A run:
//
//	report, err := loadgen.Run(ctx, loadgen.Config{
//		Clients:  2000,
//		Duration: 90 * time.Second,
//		Outages:  []loadgen.Outage{{Mode: loadgen.OutageDown, At: 35 * time.Second, Duration: 20 * time.Second}},
//	})
//	...
//	err = loadgen.TextReporter(report)(os.Stdout)
//
// The measuring side of the package stands on its own:
//
//   - A Recorder collects per-command HdrHistograms (1 µs to 1 h, 3
//     significant digits) of latencies measured from each operation's
//     intended send time, errors by class, traffic per endpoint, schedule
//     lag and late sends, and a per-second series of requests, errors,
//     latency percentiles and the Green/Red/outbox gauges the engine samples.
//     Recording is sharded and cheap; it is safe from many goroutines.
//   - A Pacer hands out the sends of an open-model load at a fixed rate
//     (after an optional linear ramp-up). Each send's intended time is
//     computed from the start and its sequence number, so slow replies do
//     not slow the schedule; sends made late or never made are counted.
//   - A Report holds a run's figures, with the histograms in their
//     HdrHistogram encoding. Figures computes an outage's time back to
//     Green, herd ratio and outbox drain time from the series. Reporters
//     write it as a text summary, JSON, an HdrHistogram percentile
//     distribution (.hgrm) or a self-contained HTML page with SVG charts.
//   - Merge combines the reports of the shards of a run exactly.
//   - ParseThreshold and Check turn limits such as "p99<500ms" or
//     "errors<1%" into a pass or fail for CI.
//
// A run records like this:
//
//	rec, err := loadgen.NewRecorder(loadgen.RecorderConfig{Start: start})
//	...
//	pacer, err := loadgen.NewPacer(loadgen.PacerConfig{Rate: 500, Start: start, Recorder: rec})
//	...
//	for {
//		s, err := pacer.Next(ctx)
//		if err != nil {
//			break // ctx done: the end of the run
//		}
//		go func() {
//			err := doOperation(ctx)
//			rec.Record("invite", s.Intended, time.Now(), loadgen.Outcome{Class: classify(err)})
//		}()
//	}
//	// and once a second: rec.Sample(time.Now(), gauges)
//	report, err := rec.Report(time.Now())
//	report.AddOutage(outage)
//	failed := loadgen.Check(report, thresholds...)
//	err = loadgen.HTMLReporter(report)(file)
package loadgen
