package loadgen

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

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
		}
	}
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
		// two samples, not for the seconds after its last one.
		var last *Point
		final := -1
		for i, p := range r.Series.Points {
			if p.Sampled {
				final = i
			}
		}
		for i := range r.Series.Points {
			p := &r.Series.Points[i]
			q := &out.Points[off+i]
			q.Requests += p.Requests
			q.Errors += p.Errors
			q.Attempts += p.Attempts
			if p.Hist != "" {
				h, err := r.decodePacked(p.Hist, fmt.Sprintf("report %d: second %d", ri, i))
				if err != nil {
					return Series{}, err
				}
				if hists[off+i] == nil {
					hists[off+i] = r.Settings.packed()
				}
				if dropped := hists[off+i].Merge(h); dropped != 0 {
					return Series{}, fmt.Errorf("%w: report %d: second %d: %d values out of range", ErrIncompatible, ri, i, dropped)
				}
			}
			if p.Sampled {
				last = p
			}
			if q.Sampled && last != nil && i <= final {
				q.Clients += last.Clients
				q.Green += last.Green
				q.Red += last.Red
				q.Outbox += last.Outbox
			}
		}
	}
	for i, h := range hists {
		if h == nil {
			continue
		}
		enc, err := h.Encode()
		if err != nil {
			return Series{}, fmt.Errorf("loadgen: merge: encode histogram of second %d: %w", i, err)
		}
		out.Points[i].Hist = string(enc)
	}
	return out, nil
}

// mergeOutages returns the outages of the reports, one per outage string,
// spanning the earliest start to the latest end the shards saw for it. The
// figures are left to Recompute.
func mergeOutages(reports []*Report) []OutageFigures {
	var out []OutageFigures
	for _, r := range reports {
		for _, o := range r.Outages {
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
