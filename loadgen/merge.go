package loadgen

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Merge combines the reports of the shards of one run into the report of the
// whole run, exactly: histograms are merged bucket by bucket (so percentiles
// are those of the union of the samples, not an average of percentiles),
// counters are summed, and the series are aligned on their Unix seconds,
// which lets shards that started in different seconds merge. Gauges are
// summed per second over the shards that were sampling, each shard's last
// sample standing in for a second it skipped between two samples. Outage figures are
// computed again from the merged series. User operations (Report.Operations)
// merge like the commands, apart from them. The inputs are not modified.
//
// Merge refuses reports that are not the shards of one run, with a
// *MismatchError (which wraps ErrIncompatible) naming the two reports and
// what differs: run configurations that differ in anything but Shard and
// Seed (each shard may draw its own seed), shards of runs split in a
// different number of shards, the same shard twice (or the whole fleet
// twice), and runs whose [Start, End] do not overlap. A report without a
// run configuration (Config.Clients 0, as one made from a Recorder by hand
// has) is taken as an unnamed part of the run: it is not checked for
// duplicates. A shard missing from the set (shard 1/2 when only 0/2 is
// given) is not an error: the merged report is partial and lists it in
// MissingShards.
//
// Merge returns an error wrapping ErrIncompatible if the reports are of
// different versions or histogram settings, and one wrapping ErrBadReport if
// a histogram does not decode.
func Merge(reports ...*Report) (*Report, error) {
	if len(reports) == 0 {
		return nil, errors.New("loadgen: merge: no reports")
	}
	first := reports[0]
	for i, r := range reports {
		if r == nil {
			return nil, fmt.Errorf("loadgen: merge: report %d is nil", i)
		}
		if err := checkVersion(r.Version, "report "+strconv.Itoa(i)+": "); err != nil {
			return nil, err
		}
		if r.Version != first.Version {
			return nil, fmt.Errorf("%w: report %d is of version %d (latencies up to %s), report 0 of version %d (up to %s): "+
				"merge the reports of one loadgen version (rerun the older shards with this build)",
				ErrIncompatible, i, r.Version, usDur(settingsOf(r.Version).Highest), first.Version, usDur(settingsOf(first.Version).Highest))
		}
		if r.Settings != first.Settings {
			return nil, fmt.Errorf("%w: report %d has histogram settings %+v, report 0 %+v",
				ErrIncompatible, i, r.Settings, first.Settings)
		}
	}
	missing, err := checkOneRun(reports)
	if err != nil {
		return nil, err
	}

	out := &Report{
		Version:    first.Version,
		Settings:   first.Settings,
		Config:     first.Config,
		Start:      first.Start,
		End:        first.End,
		Commands:   make(map[string]*CommandStats),
		Operations: make(map[string]*CommandStats),
	}
	out.Config.URLs = slices.Clone(first.Config.URLs)
	out.Config.BackupURLs = slices.Clone(first.Config.BackupURLs)
	out.Config.Outages = slices.Clone(first.Config.Outages)
	out.Config.Shard = ""
	for _, r := range reports {
		out.Config.EffectivePollInterval = max(out.Config.EffectivePollInterval, r.Config.EffectivePollInterval)
	}

	cmdHists := make(map[string]*hdr.Histogram)
	opHists := make(map[string]*hdr.Histogram)
	lag := first.Settings.histogram()
	var delivery *Delivery
	for i, r := range reports {
		what := "report " + strconv.Itoa(i)
		switch {
		case len(r.Shards) > 0:
			out.Shards = append(out.Shards, r.Shards...)
		case r.Config.Shard != "":
			out.Shards = append(out.Shards, r.Config.Shard)
		default:
			out.Shards = append(out.Shards, "#"+strconv.Itoa(i))
		}
		if r.Start.Before(out.Start) {
			out.Start = r.Start
		}
		if r.End.After(out.End) {
			out.End = r.End
		}
		out.Clipped += r.Clipped
		if err := mergeStats(r, what+": command ", r.Commands, out.Commands, cmdHists); err != nil {
			return nil, err
		}
		if err := mergeStats(r, what+": operation ", r.Operations, out.Operations, opHists); err != nil {
			return nil, err
		}
		for class, n := range r.ByClass {
			if out.ByClass == nil {
				out.ByClass = make(map[string]int64)
			}
			out.ByClass[class] += n
		}
		for ep, e := range r.Endpoints {
			if out.Endpoints == nil {
				out.Endpoints = make(map[string]EndpointStats)
			}
			sum := out.Endpoints[ep]
			sum.Requests += e.Requests
			sum.Errors += e.Errors
			sum.Attempts += e.Attempts
			out.Endpoints[ep] = sum
		}
		l, err := r.decode(r.Schedule.LagHist, what+": schedule lag")
		if err != nil {
			return nil, err
		}
		lag.Merge(l)
		out.Schedule.Offered += r.Schedule.Offered
		out.Schedule.Sent += r.Schedule.Sent
		out.Schedule.Late += r.Schedule.Late
		out.Schedule.Missed += r.Schedule.Missed
		out.Schedule.Tolerance = max(out.Schedule.Tolerance, r.Schedule.Tolerance)
		if r.Delivery != nil {
			if delivery == nil {
				delivery = &Delivery{}
			}
			delivery.Accepted += r.Delivery.Accepted
			delivery.Received += r.Delivery.Received
			delivery.Duplicated += r.Delivery.Duplicated
			delivery.Queued += r.Delivery.Queued
			delivery.Dead += r.Delivery.Dead
			delivery.DrainPhase = max(delivery.DrainPhase, r.Delivery.DrainPhase)
			delivery.Pending += r.Delivery.Pending
			if delivery.PendingReason == "" {
				delivery.PendingReason = r.Delivery.PendingReason
			}
		}
	}
	out.Generator = mergeGenerators(reports)
	out.Setup = mergeSetups(reports)
	if err := encodeStats("command ", out.Commands, cmdHists); err != nil {
		return nil, err
	}
	if err := encodeStats("operation ", out.Operations, opHists); err != nil {
		return nil, err
	}
	if len(out.Operations) == 0 {
		out.Operations = nil
	}
	if lag.TotalCount() > 0 {
		enc, err := lag.Encode(hdr.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("loadgen: merge: encode schedule lag histogram: %w", err)
		}
		out.Schedule.LagHist = string(enc)
	}
	if delivery != nil {
		delivery.Settle()
		out.Delivery = delivery
	}
	series, err := mergeSeries(reports)
	if err != nil {
		return nil, err
	}
	out.Series = series
	out.MissingShards = missing
	out.Outages = mergeOutages(reports)
	if err := out.Recompute(); err != nil {
		return nil, err
	}
	return out, nil
}

// mergeStats adds the figures of src, the commands or operations of report
// r, to dst, and their histograms to hists; prefix ("report 1: command ")
// names them in errors.
func mergeStats(r *Report, prefix string, src, dst map[string]*CommandStats, hists map[string]*hdr.Histogram) error {
	for _, name := range slices.Sorted(maps.Keys(src)) {
		c := src[name]
		if c == nil {
			return fmt.Errorf("%w: %s%s has no figures", ErrBadReport, prefix, name)
		}
		h, err := r.decode(c.Hist, prefix+name)
		if err != nil {
			return err
		}
		sum := dst[name]
		if sum == nil {
			sum = &CommandStats{}
			dst[name] = sum
			hists[name] = r.Settings.histogram()
		}
		if dropped := hists[name].Merge(h); dropped != 0 {
			return fmt.Errorf("%w: %s%s: %d values out of range", ErrIncompatible, prefix, name, dropped)
		}
		sum.Requests += c.Requests
		sum.Errors += c.Errors
		for class, n := range c.ErrorsByClass {
			if sum.ErrorsByClass == nil {
				sum.ErrorsByClass = make(map[string]int64)
			}
			sum.ErrorsByClass[class] += n
		}
	}
	return nil
}

// encodeStats encodes the merged histograms into the stats of dst; kind
// ("command ") names them in errors.
func encodeStats(kind string, dst map[string]*CommandStats, hists map[string]*hdr.Histogram) error {
	for name, h := range hists {
		enc, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
		if err != nil {
			return fmt.Errorf("loadgen: merge: encode histogram of %s%s: %w", kind, name, err)
		}
		dst[name].Hist = string(enc)
	}
	return nil
}

// mergeSeries aligns the reports' series on Unix seconds and sums them.
func mergeSeries(reports []*Report) (Series, error) {
	lo, hi := reports[0].Series.Start, reports[0].Series.Start
	for _, r := range reports {
		lo = min(lo, r.Series.Start)
		hi = max(hi, r.Series.Start+int64(len(r.Series.Points)))
	}
	out := Series{Start: lo, Points: make([]Point, hi-lo)}
	hists := make([]*hdr.PackedHistogram, len(out.Points))
	dlv := make([]*hdr.PackedHistogram, len(out.Points))
	// A merged second has gauges if any shard sampled in it.
	for _, r := range reports {
		off := int(r.Series.Start - lo)
		for i, p := range r.Series.Points {
			if p.Sampled {
				q := &out.Points[off+i]
				q.Sampled = true
				q.SampleMs = max(q.SampleMs, p.SampleMs)
			}
		}
	}
	for ri, r := range reports {
		off := int(r.Series.Start - lo)
		// The shard's last sample stands in for a second it missed between
		// two samples, and for the rest of the merged series once the
		// shard has ended: its clients do not vanish from the gauges
		// because another shard ran longer.
		var last *Point
		for i := range r.Series.Points {
			p := &r.Series.Points[i]
			q := &out.Points[off+i]
			q.Requests += p.Requests
			q.Errors += p.Errors
			q.Attempts += p.Attempts
			q.Delivered += p.Delivered
			if err := mergePacked(r, dlv, off+i, p.DeliverHist, fmt.Sprintf("report %d: deliveries of second %d", ri, i)); err != nil {
				return Series{}, err
			}
			if err := mergePacked(r, hists, off+i, p.Hist, fmt.Sprintf("report %d: second %d", ri, i)); err != nil {
				return Series{}, err
			}
			if p.Sampled {
				last = p
			}
			if q.Sampled && last != nil {
				addGauges(q, last)
			}
		}
		for i := off + len(r.Series.Points); last != nil && i < len(out.Points); i++ {
			if q := &out.Points[i]; q.Sampled {
				addGauges(q, last)
			}
		}
	}
	for i := range out.Points {
		var err error
		p := &out.Points[i]
		if p.Hist, err = encodePacked(hists[i]); err != nil {
			return Series{}, fmt.Errorf("loadgen: merge: encode histogram of second %d: %w", i, err)
		}
		if p.DeliverHist, err = encodePacked(dlv[i]); err != nil {
			return Series{}, fmt.Errorf("loadgen: merge: encode deliveries of second %d: %w", i, err)
		}
	}
	return out, nil
}

// mergePacked adds the per-second histogram enc of report r (what names
// it in errors) to hists[i], creating it; nothing when enc is empty.
func mergePacked(r *Report, hists []*hdr.PackedHistogram, i int, enc, what string) error {
	if enc == "" {
		return nil
	}
	h, err := r.decodePacked(enc, what)
	if err != nil {
		return err
	}
	if hists[i] == nil {
		hists[i] = r.Settings.packed()
	}
	if dropped := hists[i].Merge(h); dropped != 0 {
		return fmt.Errorf("%w: %s: %d values out of range", ErrIncompatible, what, dropped)
	}
	return nil
}

// encodePacked encodes h, "" for nil.
func encodePacked(h *hdr.PackedHistogram) (string, error) {
	if h == nil {
		return "", nil
	}
	enc, err := h.Encode()
	return string(enc), err
}

// addGauges adds the gauges of p to those of q.
func addGauges(q, p *Point) {
	q.Clients += p.Clients
	q.Green += p.Green
	q.Red += p.Red
	q.Outbox += p.Outbox
}

// MismatchError says why two reports are not the shards of one run. It
// wraps ErrIncompatible.
type MismatchError struct {
	// A and B are the two reports, as indexes of Merge's arguments, A < B.
	A, B int
	// NameA and NameB are their Report.Source, when set.
	NameA, NameB string
	// Field is what differs: a run configuration field by its JSON name
	// ("config.clients", "config.urls"), "shard" for the same shard twice,
	// "shard count" for shards of runs split differently, or "start/end"
	// for runs that do not overlap in time.
	Field string
	// ValueA and ValueB are the values of Field in A and B.
	ValueA, ValueB string
	// Why says what the difference means.
	Why string
}

// Error describes the mismatch, naming both reports.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("%v: %s and %s are not of one run: %s differs (%s vs %s): %s",
		ErrIncompatible, reportName(e.A, e.NameA), reportName(e.B, e.NameB), e.Field, e.ValueA, e.ValueB, e.Why)
}

// Unwrap returns ErrIncompatible.
func (e *MismatchError) Unwrap() error { return ErrIncompatible }

func reportName(i int, source string) string {
	if source == "" {
		return "report " + strconv.Itoa(i)
	}
	return "report " + strconv.Itoa(i) + " (" + source + ")"
}

// checkOneRun checks that reports are shards of one run (see Merge) and
// returns the shards missing from the set, as "i/n".
func checkOneRun(reports []*Report) (missing []string, err error) {
	mismatch := func(a, b int, field, va, vb, why string) error {
		return &MismatchError{A: a, B: b, NameA: reports[a].Source, NameB: reports[b].Source,
			Field: field, ValueA: va, ValueB: vb, Why: why}
	}
	for j := 1; j < len(reports); j++ {
		if field, va, vb, ok := configDiff(reports[0].Config, reports[j].Config); !ok {
			return nil, mismatch(0, j, field, va, vb, "the shards of one run are run with the same flags, --shard and --seed apart")
		}
	}
	// The shards each report holds.
	type held struct {
		report int
		shard  Shard // Count 1: the whole fleet
	}
	var parts []held
	for i, r := range reports {
		labels := r.Shards
		if len(labels) == 0 {
			switch {
			case r.Config.Shard != "":
				labels = []string{r.Config.Shard}
			case r.Config.Clients > 0:
				parts = append(parts, held{i, Shard{Index: 0, Count: 1}})
			}
		}
		for _, l := range labels {
			if strings.HasPrefix(l, "#") {
				continue // an unnamed part
			}
			sh, err := ParseShard(l)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: shard %q: %v", ErrBadReport, reportName(i, r.Source), l, err)
			}
			parts = append(parts, held{i, sh})
		}
	}
	shardName := func(s Shard) string {
		if s.Count <= 1 {
			return "the whole fleet"
		}
		return "shard " + s.String()
	}
	seen := make(map[int]int) // shard index → report
	for _, p := range parts {
		first := parts[0]
		if p.shard.Count != first.shard.Count {
			return nil, mismatch(first.report, p.report, "shard count", shardName(first.shard), shardName(p.shard),
				"shards of runs split in a different number of shards")
		}
		if prev, dup := seen[p.shard.Index]; dup {
			a, b := min(prev, p.report), max(prev, p.report)
			return nil, mismatch(a, b, "shard", shardName(p.shard), shardName(p.shard), "the same shard twice")
		}
		seen[p.shard.Index] = p.report
	}
	if len(parts) > 0 && parts[0].shard.Count > 1 {
		for i := range parts[0].shard.Count {
			if _, ok := seen[i]; !ok {
				missing = append(missing, Shard{Index: i, Count: parts[0].shard.Count}.String())
			}
		}
	}
	span := func(r *Report) string {
		return r.Start.UTC().Format(time.RFC3339) + " to " + r.End.UTC().Format(time.RFC3339)
	}
	for a := range reports {
		for b := a + 1; b < len(reports); b++ {
			ra, rb := reports[a], reports[b]
			if ra.End.Before(rb.Start) || rb.End.Before(ra.Start) {
				return nil, mismatch(a, b, "start/end", span(ra), span(rb),
					"the shards of one run run at the same time; these do not overlap")
			}
		}
	}
	return missing, nil
}

// configDiff compares two run configurations but for Shard and Seed, and
// returns the first field that differs, by its JSON name, with its two
// values; ok is true when they agree. Empty and nil lists are equal.
func configDiff(a, b RunConfig) (field, va, vb string, ok bool) {
	a.Shard, b.Shard, a.Seed, b.Seed = "", "", 0, 0
	// Measured by each shard: one that had no poll answered yet saw less.
	a.EffectivePollInterval, b.EffectivePollInterval = 0, 0
	a.EffectiveDrainRate, b.EffectiveDrainRate = 0, 0
	// Measured by each process too: a node's inherited slack may differ.
	a.TimerSlack, b.TimerSlack = 0, 0
	a.CommandLine, b.CommandLine = nil, nil
	if d := ConfigDiff(a, b); len(d) > 0 {
		return d[0].Field, d[0].A, d[0].B, false
	}
	return "", "", "", true
}

// FieldDiff is a field of RunConfig that differs between two run
// configurations: its name as the report's JSON has it ("config.clients")
// and the two values, formatted.
type FieldDiff struct {
	Field string
	A, B  string
}

// ConfigDiff returns the fields of RunConfig that differ between a and b,
// in the order of RunConfig's fields; none when they are the same. An empty
// list equals a missing one.
func ConfigDiff(a, b RunConfig) []FieldDiff {
	var out []FieldDiff
	x, y := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range x.NumField() {
		fx, fy := x.Field(i), y.Field(i)
		if fx.Kind() == reflect.Slice && fx.Len() == 0 && fy.Len() == 0 {
			continue
		}
		if reflect.DeepEqual(fx.Interface(), fy.Interface()) {
			continue
		}
		name, _, _ := strings.Cut(x.Type().Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = x.Type().Field(i).Name
		}
		out = append(out, FieldDiff{Field: "config." + name, A: fmt.Sprint(fx.Interface()), B: fmt.Sprint(fy.Interface())})
	}
	return out
}

// mergeOutages returns the declared outages of the reports, one per outage
// string, spanning the earliest start to the latest end the shards saw for
// it. The figures are left to Recompute, which also detects outages again
// from the merged gauges: the shards' detected outages are left out.
func mergeOutages(reports []*Report) []OutageFigures {
	var out []OutageFigures
	for _, r := range reports {
		for _, o := range r.Outages {
			if o.Detected {
				continue
			}
			i := slices.IndexFunc(out, func(f OutageFigures) bool { return f.Outage == o.Outage })
			if i < 0 {
				out = append(out, OutageFigures{Outage: o.Outage, Start: o.Start, End: o.End})
				continue
			}
			if o.Start.Before(out[i].Start) {
				out[i].Start = o.Start
			}
			if o.End.After(out[i].End) {
				out[i].End = o.End
			}
		}
	}
	return out
}
