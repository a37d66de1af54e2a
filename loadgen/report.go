package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// ReportVersion is the version of the Report format this package writes.
// Version 1 counted the user operation "invite" among the commands, and so
// its calls twice in the totals; version 2 keeps operations apart in
// Report.Operations; version 3 writes every Duration as a number of seconds
// and records latencies up to an hour (HistogramHighest) instead of 60 s.
//
// ReadReport reads versions 2 and 3; a version 2 report keeps its Version
// and its own histogram settings (up to 60 s), and so renders and checks
// against thresholds as it was, but Merge refuses to merge it with a
// version 3 report, whose histograms have another geometry.
const ReportVersion = 3

// oldestReadable is the oldest report version ReadReport reads.
const oldestReadable = 2

// v2Highest is the highest trackable value of the histograms of version 2
// reports: 60 s, in µs.
const v2Highest = 60_000_000

// Sentinel errors of reading and merging reports.
var (
	// ErrBadReport reports a report that cannot be read: malformed JSON, a
	// histogram that does not decode, or inconsistent fields.
	ErrBadReport = errors.New("loadgen: bad report")
	// ErrIncompatible reports reports that cannot be merged: another format
	// version or other histogram settings.
	ErrIncompatible = errors.New("loadgen: incompatible reports")
)

// Duration is a time.Duration that encodes in JSON as a number of seconds
// (0.000289 for 289µs), which any JSON reader understands. It decodes from
// such a number or from a Go duration string ("289µs"), the form version 2
// reports wrote.
type Duration time.Duration

// String returns d as time.Duration formats it.
func (d Duration) String() string { return time.Duration(d).String() }

// Seconds returns d as a number of seconds.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// MarshalJSON implements json.Marshaler: the number of seconds, exact to the
// nanosecond, without an exponent.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(d).Seconds(), 'f', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as encoding/json does for other types
	}
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return fmt.Errorf("duration %s: %w", b, err)
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration %s is neither a number of seconds nor a duration string", b)
	}
	ns := math.Round(v * float64(time.Second))
	if math.IsNaN(ns) || ns >= math.MaxInt64 || ns < math.MinInt64 {
		return fmt.Errorf("duration %s seconds is out of range", b)
	}
	*d = Duration(ns)
	return nil
}

// HistogramSettings are the geometry of a report's histograms, in
// microseconds.
type HistogramSettings struct {
	Lowest  int64 `json:"lowest_us"`  // lowest discernible value, µs
	Highest int64 `json:"highest_us"` // highest trackable value, µs
	Digits  int   `json:"digits"`     // significant digits of the run's histograms
	// SeriesDigits are the significant digits of the per-second histograms.
	SeriesDigits int `json:"series_digits"`
}

// DefaultHistogramSettings returns the settings every Recorder uses.
func DefaultHistogramSettings() HistogramSettings {
	return HistogramSettings{Lowest: HistogramLowest, Highest: HistogramHighest, Digits: HistogramDigits, SeriesDigits: SeriesDigits}
}

// settingsOf returns the histogram settings of reports of version v.
func settingsOf(v int) HistogramSettings {
	s := DefaultHistogramSettings()
	if v == 2 {
		s.Highest = v2Highest
	}
	return s
}

// histogram returns an empty histogram of settings s.
func (s HistogramSettings) histogram() *hdr.Histogram {
	return hdr.New(s.Lowest, s.Highest, s.Digits)
}

// packed returns an empty per-second histogram of settings s.
func (s HistogramSettings) packed() *hdr.PackedHistogram {
	return hdr.NewPacked(s.Lowest, s.Highest, s.SeriesDigits)
}

// RunConfig is the configuration of the run a report describes, as the
// engine and the CLI set it. The package only reads RampUp (to place the
// steady window of the outage figures) and carries the rest.
type RunConfig struct {
	URLs         []string `json:"urls,omitempty"`         // servers under test, redacted; empty: the embedded cluster
	BackupURLs   []string `json:"backup_urls,omitempty"`  // the clients' backup tier
	Clients      int      `json:"clients"`                // of the whole fleet, all shards
	RampUp       Duration `json:"ramp_up"`                // clients' starts spread over it
	Duration     Duration `json:"duration"`               // measured phase, ramp-up included
	PollInterval Duration `json:"poll_interval,omitzero"` // of the clients' poll loops
	// EffectivePollInterval is the wait between polls the clients kept
	// to: PollInterval, or the server's <pollinterval> when it was longer.
	EffectivePollInterval Duration `json:"effective_poll_interval,omitzero"`
	PollJitter            float64  `json:"poll_jitter,omitzero"`     // share of the interval
	InviteRate            float64  `json:"invite_rate,omitzero"`     // per client per minute
	Rate                  float64  `json:"rate,omitzero"`            // open model, operations/s; 0 = closed model
	Timeout               Duration `json:"timeout,omitzero"`         // of one attempt
	ConnPerClient         bool     `json:"conn_per_client,omitzero"` // each client its own connection pool
	// Transport is the clients' HTTP transport (Config.Transport); ""
	// when they reached an in-memory cluster.
	Transport     string   `json:"transport,omitempty"`
	DurableOutbox bool     `json:"durable_outbox,omitzero"`  // each client a SQLite outbox (Config.OutboxDir)
	Naive         bool     `json:"naive,omitzero"`           // jitter and spread off
	Outages       []string `json:"outages,omitempty"`        // as ParseOutage reads them
	OutageWindows []string `json:"outage_windows,omitempty"` // declared for an external cluster, as ParseWindow reads them
	// The clients' recovery settings as they applied them (the SDK's
	// defaults included): the spread of their return after an outage, the
	// cap of their poll backoff, their outbox items per second.
	RecoverySpread  Duration `json:"recovery_spread,omitzero"`
	PollMaxInterval Duration `json:"poll_max_interval,omitzero"`
	DrainRate       float64  `json:"drain_rate,omitzero"`
	// EffectiveDrainRate is DrainRate as the clients applied it when the
	// server's <pollinterval> floor slowed their polls (and so their
	// drain, client.Client.DrainRate); 0 when it did not.
	EffectiveDrainRate float64 `json:"effective_drain_rate,omitzero"`
	// SlowDown is the server-directed slow-down after each outage, as
	// ParseSlowDown reads it; "" for none.
	SlowDown string `json:"slow_down,omitempty"`
	// TimerSlack is how late the kernel could let the generator's timers
	// fire to serve several with one wake-up (Config.TimerSlack); 0 when
	// the run left the system's.
	TimerSlack Duration `json:"timer_slack,omitzero"`
	// CommandLine is the command that ran the run, secrets redacted; it
	// differs between the shards of one run (their --shard).
	CommandLine []string `json:"command_line,omitempty"`
	Shard       string   `json:"shard,omitempty"` // "i/n", "" for the whole fleet
	Seed        int64    `json:"seed,omitzero"`   // of the run's random choices
}

// Latency summarizes a latency distribution: the number of values, the
// lowest, the mean, the 50th to 99.9th percentiles and the highest, each at
// HDR precision (the highest value equivalent to the recorded ones).
type Latency struct {
	Count int64    `json:"count"`
	Min   Duration `json:"min"`
	Mean  Duration `json:"mean"`
	P50   Duration `json:"p50"`
	P90   Duration `json:"p90"`
	P95   Duration `json:"p95"`
	P99   Duration `json:"p99"`
	P999  Duration `json:"p99_9"`
	Max   Duration `json:"max"`
}

// CommandStats are the figures of one command or user operation.
type CommandStats struct {
	Requests      int64            `json:"requests"`                  // calls (or operations) recorded
	Errors        int64            `json:"errors"`                    // of which failed
	ErrorsByClass map[string]int64 `json:"errors_by_class,omitempty"` // failures by Outcome.Class
	Latency       Latency          `json:"latency"`                   // computed from Hist
	// Hist is the latency histogram in microseconds, HdrHistogram V2
	// compressed encoding in base64, as HdrHistogram's tools read it.
	Hist string `json:"hist"`
}

// EndpointStats count the traffic of one endpoint.
type EndpointStats struct {
	Requests int64 `json:"requests"`           // operations it answered last
	Errors   int64 `json:"errors"`             // of which failed
	Attempts int64 `json:"attempts,omitempty"` // requests sent to it, retries included
}

// Schedule says how well sends kept to their intended times.
type Schedule struct {
	// Offered is the number of sends the pacers had due by the end of the
	// run (open model); 0 when no Pacer reported to the Recorder.
	Offered int64 `json:"offered"`
	// Sent is the number of sends whose schedule lag was recorded.
	Sent int64 `json:"sent"`
	// Late is the number of sends that started more than Tolerance after
	// their intended time.
	Late int64 `json:"late"`
	// Missed is the number of sends that were due but never handed out.
	Missed    int64    `json:"missed"`
	Tolerance Duration `json:"tolerance"`          // the lag a send may have and still be on time
	Lag       Latency  `json:"lag"`                // schedule lag (actual − intended send time), from LagHist
	LagHist   string   `json:"lag_hist,omitempty"` // encoded like CommandStats.Hist
}

// Series is the per-second record of a run. Point i covers the Unix second
// Start+i, so that series of shards started in different seconds align.
type Series struct {
	Start  int64   `json:"start"`  // Unix seconds
	Points []Point `json:"points"` // one a second from Start
}

// Point is one second of a Series. Requests, Errors and the latencies are of
// the operations intended in that second; Attempts are requests put on the
// wire in it; the gauges are the sample taken in it, if any.
type Point struct {
	Requests int64    `json:"req,omitzero"` // operations intended in the second
	Errors   int64    `json:"err,omitzero"` // of which failed
	Attempts int64    `json:"att,omitzero"` // requests put on the wire in the second
	P50      Duration `json:"p50,omitzero"` // latency percentiles of the operations, from Hist
	P90      Duration `json:"p90,omitzero"`
	P99      Duration `json:"p99,omitzero"`
	Max      Duration `json:"max,omitzero"`
	// Hist is the operations' latency histogram, encoded like
	// CommandStats.Hist but with HistogramSettings.SeriesDigits.
	Hist string `json:"hist,omitempty"`
	// Delivered counts the invitations accepted in the second that their
	// recipients have received, DeliverP50 and DeliverP99 their delivery
	// latency (the user operation "deliver"), from DeliverHist, encoded
	// like Hist.
	Delivered   int64    `json:"dlv,omitzero"`
	DeliverP50  Duration `json:"dlv_p50,omitzero"`
	DeliverP99  Duration `json:"dlv_p99,omitzero"`
	DeliverHist string   `json:"dlv_hist,omitempty"`

	Sampled  bool  `json:"sampled,omitzero"`   // the gauges below were sampled
	SampleMs int32 `json:"sample_ms,omitzero"` // when, in ms into the second
	Clients  int64 `json:"clients,omitzero"`   // Gauges.Clients
	Green    int64 `json:"green,omitzero"`     // Gauges.Green
	Red      int64 `json:"red,omitzero"`       // Gauges.Red
	Outbox   int64 `json:"outbox,omitzero"`    // Gauges.Outbox
}

// Time returns the start of point i of s.
func (s Series) Time(i int) time.Time { return time.Unix(s.Start+int64(i), 0) }

// sampleTime returns when the gauges of point i were sampled.
func (s Series) sampleTime(i int) time.Time {
	return s.Time(i).Add(time.Duration(s.Points[i].SampleMs) * time.Millisecond)
}

// Delivery accounts for the invitations of a run.
type Delivery struct {
	Accepted   int64 `json:"accepted"`   // invitations the server accepted
	Received   int64 `json:"received"`   // distinct invitations their recipients received
	Duplicated int64 `json:"duplicated"` // extra copies received
	// Lost are the accepted invitations not received although their
	// recipient completed a poll that began after the acceptance.
	Lost int64 `json:"lost"`
	// Pending are the accepted invitations not received whose recipient
	// had not completed such a poll when the run ended: not lost, not
	// delivered yet. PendingReason says why the run did not wait for them.
	Pending       int64  `json:"pending"`
	PendingReason string `json:"pending_reason,omitempty"`
	// Queued is the number of invitations still waiting in the clients'
	// outboxes at the end (their clients never reached the server again
	// within the drain phase); Dead those the outboxes gave up on. Neither
	// counts as accepted.
	Queued int64 `json:"queued,omitzero"`
	Dead   int64 `json:"dead,omitzero"`
	// DrainPhase is how long the end-of-run phase waited for deliveries.
	DrainPhase Duration `json:"drain_phase,omitzero"`
}

// Settle computes d.Lost from the other counts: the accepted invitations
// neither received nor pending.
func (d *Delivery) Settle() { d.Lost = max(0, d.Accepted-d.Received-d.Pending) }

// Report is everything a run measured, in a form that encodes to JSON and
// merges exactly with the reports of the other shards of the same run: the
// histograms travel in their HdrHistogram encoding, the series is aligned on
// Unix seconds. Recorder.Report builds one; the engine then fills Config and
// Delivery and calls AddOutage for each outage. The summaries (Latency
// fields, Total, Point percentiles) are derived from the histograms by
// Recompute.
type Report struct {
	Version  int               `json:"version"`   // ReportVersion when written
	Settings HistogramSettings `json:"histogram"` // geometry of every histogram in the report
	Config   RunConfig         `json:"config"`    // set by the engine
	// Shards lists the shards merged into this report; empty for a report
	// of a single process.
	Shards []string `json:"shards,omitempty"`
	// MissingShards lists the shards ("1/2") of the run that were not
	// merged into this report: the figures are those of the other shards
	// only. Empty for a complete run; see Partial.
	MissingShards []string `json:"missing_shards,omitempty"`
	// Source says where the report was read from (a file name), for
	// messages; the caller sets it, and it is not written.
	Source string `json:"-"`

	Start time.Time `json:"start"` // the run's start (the Recorder's)
	End   time.Time `json:"end"`   // and end

	Total    Latency                  `json:"total"`            // latency of all commands
	Requests int64                    `json:"requests"`         // command calls recorded (operations not included)
	Errors   int64                    `json:"errors"`           // of which failed
	Clipped  int64                    `json:"clipped,omitzero"` // command latencies beyond the histogram, recorded as its highest value
	Commands map[string]*CommandStats `json:"commands"`         // protocol calls, by command name
	// Operations are the user operations (such as "invite"), by name,
	// measured from their intended time; not part of Requests, Errors,
	// Total, ByClass or the series. Recorder.RecordOperation records them.
	Operations map[string]*CommandStats `json:"operations,omitempty"`
	ByClass    map[string]int64         `json:"errors_by_class,omitempty"` // failures by Outcome.Class, all commands
	Endpoints  map[string]EndpointStats `json:"endpoints,omitempty"`       // by endpoint URL
	Schedule   Schedule                 `json:"schedule"`                  // how sends kept to their intended times
	Series     Series                   `json:"series"`                    // the per-second record
	Outages    []OutageFigures          `json:"outages,omitempty"`         // added by AddOutage and AddWindow, or detected
	// ErrorSplit splits the requests and errors between the outages and the
	// steady state; nil when the report has no outage.
	ErrorSplit *ErrorSplit `json:"error_split,omitempty"`
	Delivery   *Delivery   `json:"delivery,omitempty"` // set by the engine; nil when not counted
	// Generator is the load generator's measurement of itself; in a merged
	// report, the shards' together (see Merge).
	Generator *GeneratorStats `json:"generator,omitempty"`
	// Setup counts how the clients' starts went: logins and device
	// registrations that failed, with the server's reasons.
	Setup *SetupStats `json:"setup,omitempty"`
}

// Partial reports whether r is a merge of only some of the shards of its
// run (MissingShards lists the others).
func (r *Report) Partial() bool { return len(r.MissingShards) > 0 }

// Elapsed returns the length of the run.
func (r *Report) Elapsed() time.Duration { return r.End.Sub(r.Start) }

// Rate returns the mean operations per second over the run.
func (r *Report) Rate() float64 {
	s := r.Elapsed().Seconds()
	if s <= 0 {
		return 0
	}
	return float64(r.Requests) / s
}

// ErrorRatio returns the share of operations that failed, 0 to 1.
func (r *Report) ErrorRatio() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Requests)
}

// CommandNames returns the report's commands, sorted.
func (r *Report) CommandNames() []string { return slices.Sorted(maps.Keys(r.Commands)) }

// named returns the figures of command name or, when no command has that
// name, of the user operation, with which of the two it is; nil if
// neither.
func (r *Report) named(name string) (c *CommandStats, kind string) {
	if c, ok := r.Commands[name]; ok {
		return c, "command"
	}
	if c, ok := r.Operations[name]; ok {
		return c, "operation"
	}
	return nil, ""
}

// OperationNames returns the report's user operations, sorted.
func (r *Report) OperationNames() []string { return slices.Sorted(maps.Keys(r.Operations)) }

// Histogram decodes the latency histogram of command cmd, or of operation
// cmd when no command has that name, or of all commands merged (operations
// not included) when cmd is "". An unknown name yields an empty histogram.
func (r *Report) Histogram(cmd string) (*hdr.Histogram, error) {
	if cmd != "" {
		c, kind := r.named(cmd)
		if c == nil {
			return r.Settings.histogram(), nil
		}
		return r.decode(c.Hist, kind+" "+cmd)
	}
	all := r.Settings.histogram()
	for _, name := range r.CommandNames() {
		h, err := r.decode(r.Commands[name].Hist, "command "+name)
		if err != nil {
			return nil, err
		}
		all.Merge(h)
	}
	return all, nil
}

// decode decodes an encoded histogram of the report and checks that it has
// the report's settings.
func (r *Report) decode(enc, what string) (*hdr.Histogram, error) {
	if enc == "" {
		return r.Settings.histogram(), nil
	}
	h, err := hdr.Decode([]byte(enc))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: histogram: %v", ErrBadReport, what, err)
	}
	if err := r.checkGeometry(what, h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), r.Settings.Digits); err != nil {
		return nil, err
	}
	return h, nil
}

// decodePacked is decode for the per-second histograms.
func (r *Report) decodePacked(enc, what string) (*hdr.PackedHistogram, error) {
	if enc == "" {
		return r.Settings.packed(), nil
	}
	h, err := hdr.DecodePacked([]byte(enc))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: histogram: %v", ErrBadReport, what, err)
	}
	if err := r.checkGeometry(what, h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), r.Settings.SeriesDigits); err != nil {
		return nil, err
	}
	return h, nil
}

// checkGeometry checks a decoded histogram's geometry against r's settings.
func (r *Report) checkGeometry(what string, lo, hi, digits int64, wantDigits int) error {
	if lo != r.Settings.Lowest || hi != r.Settings.Highest || digits != int64(wantDigits) {
		return fmt.Errorf("%w: %s: histogram of %d to %d with %d digits, report says %d to %d with %d",
			ErrIncompatible, what, lo, hi, digits, r.Settings.Lowest, r.Settings.Highest, wantDigits)
	}
	return nil
}

// Recompute derives the summaries of r from its histograms and series: the
// latency of each command and operation, the total (of the commands), the schedule lag, the per-second
// percentiles, the request and error totals, and the figures of each outage
// already in r.Outages. Merge calls it; call it after changing the
// histograms or the series by hand.
func (r *Report) Recompute() error {
	all := r.Settings.histogram()
	r.Requests, r.Errors = 0, 0
	for _, name := range r.CommandNames() {
		c := r.Commands[name]
		h, err := r.decode(c.Hist, "command "+name)
		if err != nil {
			return err
		}
		c.Latency = latencyOf(h)
		all.Merge(h)
		r.Requests += c.Requests
		r.Errors += c.Errors
	}
	r.Total = latencyOf(all)
	for _, name := range r.OperationNames() {
		c := r.Operations[name]
		h, err := r.decode(c.Hist, "operation "+name)
		if err != nil {
			return err
		}
		c.Latency = latencyOf(h)
	}
	lag, err := r.decode(r.Schedule.LagHist, "schedule lag")
	if err != nil {
		return err
	}
	r.Schedule.Lag = latencyOf(lag)
	for i := range r.Series.Points {
		p := &r.Series.Points[i]
		h, err := r.decodePacked(p.Hist, fmt.Sprintf("second %d", i))
		if err != nil {
			return err
		}
		p.P50, p.P90, p.P99, p.Max = 0, 0, 0, 0
		if h.TotalCount() > 0 {
			p.P50 = Duration(usDur(h.ValueAtPercentile(50)))
			p.P90 = Duration(usDur(h.ValueAtPercentile(90)))
			p.P99 = Duration(usDur(h.ValueAtPercentile(99)))
			p.Max = Duration(usDur(h.Max()))
		}
		p.DeliverP50, p.DeliverP99 = 0, 0
		if p.DeliverHist != "" {
			h, err := r.decodePacked(p.DeliverHist, fmt.Sprintf("deliveries of second %d", i))
			if err != nil {
				return err
			}
			if h.TotalCount() > 0 {
				p.DeliverP50 = Duration(usDur(h.ValueAtPercentile(50)))
				p.DeliverP99 = Duration(usDur(h.ValueAtPercentile(99)))
			}
		}
	}
	r.UpdateOutages()
	return nil
}

// UpdateOutages computes again the figures of every declared outage in
// r.Outages (faults of the embedded cluster, windows declared for an
// external one) from the series, replaces the detected ones by those
// DetectOutages finds now outside the declared ones (an outage is not
// detected again where a declared one, or its recovery until 99% Green,
// overlaps it), and splits the requests and errors inside and outside the
// outage windows (ErrorSplit). Recompute, AddOutageAt and AddWindow call it;
// call it after changing r.Config, whose RampUp places the steady windows.
func (r *Report) UpdateOutages() {
	opt := r.figureOptions()
	var declared []OutageFigures
	for _, o := range r.Outages {
		if !o.Detected {
			declared = append(declared, Figures(r.Series, o.Outage, o.Start, o.End, opt))
		}
	}
	all := declared
	for _, d := range DetectOutages(r.Series, opt) {
		if !slices.ContainsFunc(declared, func(o OutageFigures) bool {
			return d.Start.Before(o.recovered(r.Series)) && o.Start.Before(d.End)
		}) {
			all = append(all, d)
		}
	}
	r.Outages = all
	r.ErrorSplit = splitErrors(r.Series, r.Outages)
}

// AddOutage adds the figures of outage o, whose At is counted from r.Start,
// to r.Outages, and adds it to r.Config.Outages if it is not there yet.
func (r *Report) AddOutage(o Outage) {
	start := r.Start.Add(o.At)
	r.AddOutageAt(o, start, start.Add(o.Duration))
}

// AddOutageAt is AddOutage with the times the fault was really switched on
// and off, which a busy machine can make later than planned.
func (r *Report) AddOutageAt(o Outage, start, end time.Time) {
	r.Outages = append(r.Outages, OutageFigures{Outage: o.String(), Start: start, End: end})
	if !slices.Contains(r.Config.Outages, o.String()) {
		r.Config.Outages = append(r.Config.Outages, o.String())
	}
	r.UpdateOutages()
}

// AddWindow adds the figures of the outage an external cluster had in
// window w, counted from r.Start, to r.Outages, and adds w to
// r.Config.OutageWindows if it is not there yet. A window that begins at or
// after r.End (a run stopped early) is left out; one that ends after r.End
// is cut there.
func (r *Report) AddWindow(w Window) {
	start := r.Start.Add(w.At)
	if !start.Before(r.End) {
		return
	}
	end := start.Add(w.Duration)
	if end.After(r.End) {
		end = r.End
	}
	r.Outages = append(r.Outages, OutageFigures{Outage: w.String(), Start: start, End: end})
	if !slices.Contains(r.Config.OutageWindows, w.String()) {
		r.Config.OutageWindows = append(r.Config.OutageWindows, w.String())
	}
	r.UpdateOutages()
}

func (r *Report) figureOptions() FigureOptions {
	return FigureOptions{NotBefore: r.Start.Add(time.Duration(r.Config.RampUp))}
}

// Validate checks that r can be read and merged: its version, and that every
// histogram decodes with r's settings.
func (r *Report) Validate() error {
	if err := checkVersion(r.Version, ""); err != nil {
		return err
	}
	if want := settingsOf(r.Version); r.Settings != want {
		return fmt.Errorf("%w: histogram settings %+v, version %d reports have %+v", ErrIncompatible, r.Settings, r.Version, want)
	}
	for name, c := range r.Commands {
		if c == nil {
			return fmt.Errorf("%w: command %s has no figures", ErrBadReport, name)
		}
		if _, err := r.decode(c.Hist, "command "+name); err != nil {
			return err
		}
	}
	for name, c := range r.Operations {
		if c == nil {
			return fmt.Errorf("%w: operation %s has no figures", ErrBadReport, name)
		}
		if _, err := r.decode(c.Hist, "operation "+name); err != nil {
			return err
		}
	}
	if _, err := r.decode(r.Schedule.LagHist, "schedule lag"); err != nil {
		return err
	}
	for i, p := range r.Series.Points {
		if _, err := r.decodePacked(p.DeliverHist, fmt.Sprintf("deliveries of second %d", i)); err != nil {
			return err
		}
		if _, err := r.decodePacked(p.Hist, fmt.Sprintf("second %d", i)); err != nil {
			return err
		}
	}
	if r.End.Before(r.Start) {
		return fmt.Errorf("%w: end %s before start %s", ErrBadReport, r.End, r.Start)
	}
	return nil
}

// checkVersion returns nil for the versions this build reads (2 and
// ReportVersion), else an error wrapping ErrIncompatible that says which
// loadgen can read the report; what ("report 1: ") prefixes the version in
// the message.
func checkVersion(v int, what string) error {
	switch {
	case v >= oldestReadable && v <= ReportVersion:
		return nil
	case v <= 0:
		return fmt.Errorf("%w: %sno version, this build reads versions %d to %d (is it a loadgen report?)", ErrIncompatible, what, oldestReadable, ReportVersion)
	case v == 1:
		return fmt.Errorf("%w: %sversion 1, this build reads versions %d to %d only "+
			"(version 1 counted each invitation twice, as the operation invite and the call sendinvitation; "+
			"rerun with this build, or read it with the loadgen that wrote it)", ErrIncompatible, what, oldestReadable, ReportVersion)
	case v < oldestReadable:
		return fmt.Errorf("%w: %sversion %d, this build reads versions %d to %d only (rerun with this build)", ErrIncompatible, what, v, oldestReadable, ReportVersion)
	default:
		return fmt.Errorf("%w: %sversion %d is newer than this build's version %d (use the loadgen that wrote it)", ErrIncompatible, what, v, ReportVersion)
	}
}

// ReadReport reads a report written by JSONReporter and validates it.
func ReadReport(rd io.Reader) (*Report, error) {
	var r Report
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReport, err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// latencyOf summarizes h, whose values are microseconds.
func latencyOf(h *hdr.Histogram) Latency {
	n := h.TotalCount()
	if n == 0 {
		return Latency{}
	}
	q := h.ValueAtPercentiles([]float64{50, 90, 95, 99, 99.9})
	d := func(us int64) Duration { return Duration(usDur(us)) }
	return Latency{
		Count: n,
		Min:   d(h.Min()),
		Mean:  Duration(h.Mean() * float64(time.Microsecond)),
		P50:   d(q[50]),
		P90:   d(q[90]),
		P95:   d(q[95]),
		P99:   d(q[99]),
		P999:  d(q[99.9]),
		Max:   d(h.Max()),
	}
}
