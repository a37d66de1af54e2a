package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// A Reporter writes a report in one format. Reporters are small values made
// by TextReporter, JSONReporter, HgrmReporter and HTMLReporter; the caller
// chooses where they write.
type Reporter func(io.Writer) error

// JSONReporter writes r as indented JSON, the form ReadReport reads and Merge
// combines.
func JSONReporter(r *Report) Reporter {
	return func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
}

// HgrmReporter writes the latency distribution of command cmd (all commands
// when cmd is "") in the HdrHistogram percentile distribution format that
// wrk2 and the HdrHistogram tools print and plot: Value (milliseconds),
// Percentile, TotalCount and 1/(1-Percentile), five steps per halving of the
// remaining percentile, then the Mean, StdDeviation, Max, Total count,
// Buckets and SubBuckets footer.
func HgrmReporter(r *Report, cmd string) Reporter {
	return func(w io.Writer) error {
		h, err := r.Histogram(cmd)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if _, err := h.PercentilesPrint(&buf, 5, 1000); err != nil {
			return err
		}
		// The library's header uses tabs; the C and Java tools (and wrk2)
		// align it in columns.
		body := buf.Bytes()
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			body = body[i+1:]
		}
		if _, err := fmt.Fprintf(w, "%12s %12s %12s %12s\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)"); err != nil {
			return err
		}
		_, err = w.Write(body)
		return err
	}
}

// TextReporter writes a human-readable summary of r: the run, totals and
// latency, schedule keeping, a table of the commands, one of the user
// operations (apart, as they are not part of the totals), errors by class,
// endpoints, each outage's figures and delivery accounting.
func TextReporter(r *Report) Reporter {
	return func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
		p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
		// What makes the figures below untrustworthy comes first.
		for _, w := range r.Warnings() {
			fmt.Fprintln(bw, w)
		}

		p("Run\t%s  elapsed %s  clients %d  %s", r.Start.UTC().Format("2006-01-02 15:04:05 MST"),
			fmtDur(r.Elapsed()), r.Config.Clients, modelOf(r.Config))
		if r.Config.Shard != "" {
			p("  shard %s", r.Config.Shard)
		}
		if len(r.Shards) > 0 {
			p("  %s", mergedFrom(r))
		}
		if r.Partial() {
			p("  %s", partialLine(r))
		}
		p("\n")
		target := "embedded cluster"
		if len(r.Config.URLs) > 0 {
			target = strings.Join(r.Config.URLs, ", ")
		}
		p("Target\t%s%s\n", target, transportText(r.Config))
		if line := settingsLine(r.Config); line != "" {
			p("Clients\t%s\n", line)
		}
		if len(r.Config.CommandLine) > 0 {
			p("Command\t%s\n", strings.Join(r.Config.CommandLine, " "))
		}
		p("Requests\ttotal %d  rate %.1f/s  errors %d (%s)", r.Requests, r.Rate(), r.Errors, pct(r.Errors, r.Requests))
		if r.Clipped > 0 {
			p("  beyond %s: %d", fmtDur(usDur(r.Settings.Highest)), r.Clipped)
		}
		p("\n")
		if e := r.ErrorSplit; e != nil {
			p("Errors\t%s\n", splitLine(e))
		}
		p("Latency\t%s\n", latencyLine(r.Total))
		if g := r.Generator; g != nil {
			p("Generator\t%s\n", generatorLine(g))
		}
		if st := r.Setup; st != nil && st.Failed+st.NotStarted > 0 {
			p("Setup\t%s\n", setupLine(st))
			for _, f := range st.Failures {
				p("\t%d × %s\n", f.Count, f)
			}
		}
		s := r.Schedule
		offered, missed := scheduleCounts(r)
		p("Schedule\toffered %s  sent %d  late %d (>%s)  missed %s  lag p99 %s  max %s\n",
			offered, s.Sent, s.Late, fmtDur(time.Duration(s.Tolerance)), missed,
			fmtDur(time.Duration(s.Lag.P99)), fmtDur(time.Duration(s.Lag.Max)))
		if err := tw.Flush(); err != nil {
			return err
		}

		row := func(name string, c *CommandStats) {
			l := c.Latency
			p("%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", name, c.Requests, c.Errors,
				fmtDur(time.Duration(l.P50)), fmtDur(time.Duration(l.P90)), fmtDur(time.Duration(l.P99)),
				fmtDur(time.Duration(l.P999)), fmtDur(time.Duration(l.Max)))
		}
		if len(r.Commands) > 0 {
			fmt.Fprintln(bw)
			p("Command\tRequests\tErrors\tp50\tp90\tp99\tp99.9\tMax\n")
			for _, name := range r.CommandNames() {
				row(name, r.Commands[name])
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if len(r.Operations) > 0 {
			fmt.Fprintln(bw)
			fmt.Fprintln(bw, "User operations, measured from their intended time (sent at once or queued offline).")
			fmt.Fprintln(bw, "Not counted in the totals: the protocol calls they make are among the commands above.")
			p("Operation\tCount\tErrors\tp50\tp90\tp99\tp99.9\tMax\n")
			for _, name := range r.OperationNames() {
				row(name, r.Operations[name])
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if len(r.ByClass) > 0 {
			fmt.Fprintln(bw)
			p("Error class\tCount\n")
			for _, class := range slices.Sorted(maps.Keys(r.ByClass)) {
				p("%s\t%d\n", class, r.ByClass[class])
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if len(r.Endpoints) > 0 {
			fmt.Fprintln(bw)
			p("Endpoint\tRequests\tErrors\tAttempts\n")
			for _, ep := range slices.Sorted(maps.Keys(r.Endpoints)) {
				e := r.Endpoints[ep]
				p("%s\t%d\t%d\t%d\n", ep, e.Requests, e.Errors, e.Attempts)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		for _, o := range r.Outages {
			fmt.Fprintln(bw)
			p("Outage\t%s  from %s to %s\n", outageName(o), fmtDur(o.Start.Sub(r.Start)), fmtDur(o.End.Sub(r.Start)))
			p("  Red\t%s\n", redLine(o))
			p("  Green again\t%s\n", greenLine(o))
			p("  Load\t%s\n", loadLine(o))
			p("  Herd ratio\t%s\n", herdLine(o))
			p("  Outbox\tbefore %d  peak %d  %s\n", o.OutboxBefore, o.OutboxPeak, drainText(o))
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if d := r.Delivery; d != nil {
			fmt.Fprintln(bw)
			p("Delivery\taccepted %d  received %d  lost %d (%s)  duplicated %d", d.Accepted, d.Received, d.Lost, pct(d.Lost, d.Accepted), d.Duplicated)
			if d.Pending > 0 {
				p("  pending %s", pendingText(d))
			}
			if d.Queued > 0 || d.Dead > 0 {
				p("  still queued %d  dead %d", d.Queued, d.Dead)
			}
			if d.DrainPhase > 0 {
				p("  after a drain phase of %s", fmtDur(time.Duration(d.DrainPhase)))
			}
			p("\n")
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
}

// mergedFrom says how many shards a merged report holds.
func mergedFrom(r *Report) string {
	if r.Partial() {
		return fmt.Sprintf("merged from %d of %d shards", len(r.Shards), len(r.Shards)+len(r.MissingShards))
	}
	return fmt.Sprintf("merged from %d shards", len(r.Shards))
}

// partialLine says which shards a partial report lacks: "partial: shard
// 1/2 missing".
func partialLine(r *Report) string {
	noun := "shard"
	if len(r.MissingShards) > 1 {
		noun = "shards"
	}
	return "partial: " + noun + " " + strings.Join(r.MissingShards, ", ") + " missing"
}

// transportText says which transport the clients used and how they shared
// it: "  over the lean transport, a connection pool per client"; "" when
// the report does not say (an in-memory cluster, an older report).
func transportText(c RunConfig) string {
	if c.Transport == "" {
		return ""
	}
	pool := "one shared connection pool"
	if c.ConnPerClient {
		pool = "a connection pool per client"
	}
	return "  over the " + c.Transport + " transport, " + pool
}

func modelOf(c RunConfig) string {
	m := "closed model"
	if c.Rate > 0 {
		m = fmt.Sprintf("open model %g ops/s", c.Rate)
	}
	if c.DurableOutbox {
		m += ", durable outboxes"
	}
	return m
}

func latencyLine(l Latency) string {
	d := func(v Duration) string { return fmtDur(time.Duration(v)) }
	return fmt.Sprintf("min %s  mean %s  p50 %s  p90 %s  p95 %s  p99 %s  p99.9 %s  max %s",
		d(l.Min), d(l.Mean), d(l.P50), d(l.P90), d(l.P95), d(l.P99), d(l.P999), d(l.Max))
}

func pct(n, of int64) string {
	if of == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.3g%%", 100*float64(n)/float64(of))
}

// fmtSampled formats a figure read off the gauge samples, which are taken
// once a second, at that resolution: "3s", not "2.987s"; a figure above 0
// is at least "1s".
func fmtSampled(d Duration) string {
	if d == 0 {
		return "0s"
	}
	return max(time.Second, time.Duration(d).Round(time.Second)).String()
}

// reached formats a share and the sampled time to reach it: "50% after 3s",
// or "50% never" when it was not reached.
func reached(share string, d *Duration) string {
	if d == nil {
		return share + " never"
	}
	return share + " after " + fmtSampled(*d)
}

// outageName names an outage for the text and HTML.
func outageName(o OutageFigures) string {
	switch {
	case o.Detected:
		return "detected (from the fleet's state)"
	case strings.Contains(o.Outage, "+") && !strings.Contains(o.Outage, ":"):
		return o.Outage + " (declared window)"
	}
	return o.Outage
}

func redLine(o OutageFigures) string {
	if o.RedPeak == 0 && o.Red50 == nil {
		return "no client went Red"
	}
	return reached("50%", o.Red50) + "  " + reached("99%", o.Red99) + "  " + reached("100%", o.Red100) +
		"  (at most " + strconv.FormatInt(o.RedPeak, 10) + " Red)"
}

func greenLine(o OutageFigures) string {
	return reached("50%", o.Green50) + "  " + reached("99%", o.Green99) + "  " + reached("100%", o.Green100)
}

// loadLine gives the request and attempt rates during the outage, against
// the steady ones.
func loadLine(o OutageFigures) string {
	rate := func(what string, during, steady, load float64) string {
		s := fmt.Sprintf("%s %.1f/s", what, during)
		if steady > 0 {
			return s + fmt.Sprintf(" (%.2f× steady %.1f/s)", load, steady)
		}
		return s + " (no steady rate)"
	}
	s := "during: " + rate("requests", o.RequestRate, o.SteadyRequestRate, o.RequestLoad)
	if o.AttemptRate > 0 || o.SteadyAttemptRate > 0 {
		s += "  " + rate("attempts", o.AttemptRate, o.SteadyAttemptRate, o.AttemptLoad)
	}
	return s
}

func herdLine(o OutageFigures) string {
	if o.SteadyRate <= 0 {
		return "n/a (no steady rate before the outage)"
	}
	return fmt.Sprintf("%.2f  (peak %.0f/s after, steady %.1f/s before, %s)", o.HerdRatio, o.PeakRate, o.SteadyRate, o.RateOf)
}

// drainText says when the outbox drained, or that it never did.
func drainText(o OutageFigures) string {
	if o.Drain == nil {
		return fmt.Sprintf("never drained (%d queued)", o.OutboxLeft)
	}
	return "drained after " + fmtSampled(*o.Drain)
}

// splitLine gives the errors of the steady state and of the outages.
func splitLine(e *ErrorSplit) string {
	return fmt.Sprintf("steady %d of %d (%s)  in outages and recovery %d of %d (%s) over %ds",
		e.SteadyErrors, e.SteadyRequests, pct(e.SteadyErrors, e.SteadyRequests),
		e.OutageErrors, e.OutageRequests, pct(e.OutageErrors, e.OutageRequests), e.OutageSeconds)
}

// fmtDur formats d with about four significant digits.
func fmtDur(d time.Duration) string {
	a := d
	if a < 0 {
		a = -a
	}
	// Keep four significant digits: 1.234ms, 12.35ms, 123.5ms, 1.235s.
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if a < 10000*unit {
			d = d.Round(unit)
			break
		}
	}
	return d.String()
}

// scheduleCounts returns the offered and missed sends as text: counts in
// the open model; in the closed model each client keeps its own schedule
// and nothing is offered from outside, so there is nothing to miss.
func scheduleCounts(r *Report) (offered, missed string) {
	if r.Config.Rate <= 0 && r.Schedule.Offered == 0 {
		return "n/a (closed model)", "n/a"
	}
	return strconv.FormatInt(r.Schedule.Offered, 10), strconv.FormatInt(r.Schedule.Missed, 10)
}

// generatorLine is the generator's self-measurement in one line.
func generatorLine(g *GeneratorStats) string {
	if !g.Measured {
		return fmt.Sprintf("not measured here (%d cores)", g.Cores)
	}
	s := fmt.Sprintf("CPU %.1f s  %.0f%% of %d cores (peak %.0f%% over %s)  scheduler latency p99 %s (peak %s)  GC pause max %s",
		g.CPUSeconds, 100*g.CPUShare, g.Cores, 100*g.PeakCPUShare, SaturationWindow,
		fmtDur(time.Duration(g.SchedLatencyP99)), fmtDur(time.Duration(g.PeakSchedLatencyP99)), fmtDur(time.Duration(g.GCPauseMax)))
	if g.CPUPerRequestUs > 0 {
		s += fmt.Sprintf("  %.0f µs CPU per request", g.CPUPerRequestUs)
	}
	if g.IncludesCluster {
		s += "  (embedded cluster included)"
	}
	if g.SharedConnLimit > 0 {
		s += fmt.Sprintf("  pool capped at %d connections per endpoint (open-file limit %d)", g.SharedConnLimit, g.OpenFileLimit)
	}
	if g.Saturated {
		s += "  SATURATED"
	}
	return s
}

// setupLine counts the clients' starts.
func setupLine(st *SetupStats) string {
	return fmt.Sprintf("%d of %d started  %d refused  %d still trying at the end", st.Started, st.Clients, st.Failed, st.NotStarted)
}

// pendingText is the pending invitations with their reason.
func pendingText(d *Delivery) string {
	if d.Pending == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", d.Pending, d.PendingReason)
}

// settingsLine is the clients' poll and recovery settings as they applied
// them, the server's poll floor included; "" for a report that does not
// carry them (version 2).
func settingsLine(c RunConfig) string {
	if c.PollInterval == 0 {
		return ""
	}
	s := "poll " + fmtDur(time.Duration(c.PollInterval))
	if eff := c.EffectivePollInterval; eff > c.PollInterval {
		s += " (kept to " + fmtDur(time.Duration(eff)) + ": the server's <pollinterval> is a floor)"
	}
	if c.PollJitter > 0 {
		s += fmt.Sprintf(" ±%g%%", 100*c.PollJitter)
	}
	if c.PollMaxInterval > 0 {
		s += "  backoff max " + fmtDur(time.Duration(c.PollMaxInterval))
	}
	if c.RecoverySpread > 0 || c.Naive {
		s += "  recovery spread " + fmtDur(time.Duration(c.RecoverySpread))
	}
	if c.DrainRate > 0 {
		s += fmt.Sprintf("  drain %g/s", c.DrainRate)
		if c.EffectiveDrainRate > 0 {
			s += fmt.Sprintf(" (%.3g/s at the server's floor)", c.EffectiveDrainRate)
		}
	}
	if c.Timeout > 0 {
		s += "  attempt timeout " + fmtDur(time.Duration(c.Timeout))
	}
	if c.SlowDown != "" {
		s += "  server slow-down after outages " + c.SlowDown
	}
	if c.Naive {
		s += "  (naive: jitter and spread off)"
	}
	if c.TimerSlack > 0 {
		s += "  timer slack " + fmtDur(time.Duration(c.TimerSlack)) + " (in the schedule lag and the latencies from due)"
	}
	return s
}
