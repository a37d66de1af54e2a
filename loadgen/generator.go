package loadgen

import (
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// Saturation thresholds of the generator's self-measurement. A run that
// crosses either is flagged (GeneratorStats.Saturated): its latencies may
// be the generator's own delays, not the server's. Locust warns at 90%
// CPU; the scheduler latency catches a generator whose goroutines wait
// for a core even when its CPU share is below that (a process limited to
// fewer cores than it has goroutines ready to run).
const (
	// SaturationCPUShare is the share of the cores the generator may use
	// that, held over SaturationWindow, flags the run.
	SaturationCPUShare = 0.90
	// SaturationSchedLatency is the 99th percentile of the time runnable
	// goroutines waited for a core, over SaturationWindow, that flags the
	// run.
	SaturationSchedLatency = 20 * time.Millisecond
	// SaturationWindow is the window over which the shares and the
	// scheduler latency are taken.
	SaturationWindow = 10 * time.Second
)

// GeneratorStats are the load generator's measurements of itself: how much
// of the machine it used and whether it kept up. A generator at its limit
// reports its own delays as server latency; Saturated says when the
// figures of a run cannot be trusted for that reason.
type GeneratorStats struct {
	// Measured is false where the process's CPU time cannot be read (and
	// in simulated-time tests); the other figures are then zero.
	Measured bool `json:"measured"`
	// CPUSeconds is the CPU time (user and system) the process used from
	// the start of the run to its end.
	CPUSeconds float64 `json:"cpu_seconds"`
	// Cores is the number of cores the process may use (GOMAXPROCS, which
	// follows the CPU affinity mask and a container's CPU limit).
	Cores int `json:"cores"`
	// CPUShare is CPUSeconds over the run's elapsed time times Cores: 1 is
	// every core busy for the whole run.
	CPUShare float64 `json:"cpu_share"`
	// PeakCPUShare is the highest CPU share over any SaturationWindow of
	// the run.
	PeakCPUShare float64 `json:"peak_cpu_share"`
	// SchedLatencyP99 is the 99th percentile of the time goroutines spent
	// runnable before they ran, over the run; PeakSchedLatencyP99 the
	// highest such percentile over any SaturationWindow.
	SchedLatencyP99     Duration `json:"sched_latency_p99"`
	PeakSchedLatencyP99 Duration `json:"peak_sched_latency_p99"`
	// GCPauseMax is the longest stop-the-world pause of the garbage
	// collector during the run (the upper bound of its histogram bucket),
	// one cause of a scheduler latency peak.
	GCPauseMax Duration `json:"gc_pause_max"`
	// Saturated is true when PeakCPUShare reached SaturationCPUShare or
	// PeakSchedLatencyP99 reached SaturationSchedLatency; Reason says
	// which, in words.
	Saturated bool   `json:"saturated"`
	Reason    string `json:"reason,omitempty"`
	// IncludesCluster is true when the embedded cluster ran in the same
	// process: the CPU figures are then the generator's and the cluster's
	// together.
	IncludesCluster bool `json:"includes_cluster,omitzero"`
	// CPUPerRequest is CPUSeconds over the requests put on the wire
	// (attempts), in microseconds; 0 when none were counted.
	CPUPerRequestUs float64 `json:"cpu_per_request_us,omitzero"`
	// OpenFileLimit is the process's hard limit on open files (0: none
	// known); SharedConnLimit the connections per endpoint the shared pool
	// was held to so that the run fits under it (0: no cap). A request
	// waits for a connection past that cap, which only a cluster holding
	// thousands of requests at once (a hang) makes it do.
	OpenFileLimit   uint64 `json:"open_file_limit,omitzero"`
	SharedConnLimit int    `json:"shared_conn_limit,omitzero"`
}

// Warning returns the line a report leads with when the generator was
// saturated, or "" when it was not.
func (g *GeneratorStats) Warning() string {
	if g == nil || !g.Saturated {
		return ""
	}
	who := "the generator"
	if g.IncludesCluster {
		who = "the generator and the embedded cluster it runs"
	}
	what := "reached its limit"
	if g.PeakCPUShare < SaturationCPUShare {
		// Below the CPU share: its goroutines waited for a core (another
		// process on the machine, the garbage collector, a burst).
		what = "fell behind"
	}
	return fmt.Sprintf("WARNING: %s %s (%s): latencies and errors may be its own, not the server's; "+
		"run fewer clients per process (--shard) or on more cores", who, what, g.Reason)
}

// selfMeter measures the generator once a second. Its methods are safe
// for concurrent use.
type selfMeter struct {
	cores int
	cpu   func() time.Duration // the process's CPU time; nil: not measured
	sched func() *metrics.Float64Histogram
	gc    func() *metrics.Float64Histogram

	mu       sync.Mutex
	start    time.Time
	cpu0     time.Duration
	sched0   *metrics.Float64Histogram
	gc0      *metrics.Float64Histogram
	shares   []float64 // CPU share of each of the last SaturationWindow seconds
	lastAt   time.Time
	lastCPU  time.Duration
	winSched *metrics.Float64Histogram // at the start of the current window
	winStart time.Time
	peak     float64
	peakLat  float64 // seconds
}

// newSelfMeter returns a meter of the process; cpu nil means the CPU time
// is not measured (the report then says so).
func newSelfMeter(cpu func() time.Duration) *selfMeter {
	return &selfMeter{cores: runtime.GOMAXPROCS(0), cpu: cpu,
		sched: func() *metrics.Float64Histogram { return readHist("/sched/latencies:seconds") },
		gc:    func() *metrics.Float64Histogram { return readHist("/sched/pauses/total/gc:seconds") },
	}
}

// readHist reads one of the runtime's histograms: the time goroutines
// spent runnable before running, the garbage collector's pauses.
func readHist(name string) *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// begin starts the measurement at now.
func (m *selfMeter) begin(now time.Time) {
	if m.cpu == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start, m.lastAt, m.winStart = now, now, now
	m.cpu0 = m.cpu()
	m.lastCPU = m.cpu0
	m.sched0 = m.sched()
	m.winSched = m.sched0
	if m.gc != nil {
		m.gc0 = m.gc()
	}
}

// tick takes the sample of the second ending at now, and returns the CPU
// share over the last SaturationWindow (0 until a window has passed).
func (m *selfMeter) tick(now time.Time) float64 {
	if m.cpu == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dt := now.Sub(m.lastAt)
	if dt <= 0 {
		return 0
	}
	c := m.cpu()
	m.shares = append(m.shares, min(1, (c-m.lastCPU).Seconds()/(dt.Seconds()*float64(m.cores))))
	m.lastAt, m.lastCPU = now, c
	n := int(SaturationWindow / time.Second)
	if len(m.shares) > n {
		m.shares = m.shares[len(m.shares)-n:]
	}
	var share float64
	if len(m.shares) == n {
		for _, s := range m.shares {
			share += s
		}
		share /= float64(n)
		m.peak = max(m.peak, share)
	}
	if now.Sub(m.winStart) >= SaturationWindow {
		h := m.sched()
		m.peakLat = max(m.peakLat, quantile(diffHist(h, m.winSched), 0.99))
		m.winSched, m.winStart = h, now
	}
	return share
}

// stats returns the measurements from begin to end; attempts are the
// requests put on the wire, for the CPU per request.
func (m *selfMeter) stats(end time.Time, attempts int64, includesCluster bool) *GeneratorStats {
	g := &GeneratorStats{Cores: m.cores, IncludesCluster: includesCluster}
	if m.cpu == nil {
		return g
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	elapsed := end.Sub(m.start)
	if elapsed <= 0 {
		return g
	}
	g.Measured = true
	g.CPUSeconds = (m.cpu() - m.cpu0).Seconds()
	// Threads in system calls may run beyond GOMAXPROCS; a share is of the
	// cores the scheduler may use, at most all of them.
	g.CPUShare = min(1, g.CPUSeconds/(elapsed.Seconds()*float64(m.cores)))
	g.PeakCPUShare = max(m.peak, g.CPUShare)
	lat := quantile(diffHist(m.sched(), m.sched0), 0.99)
	g.SchedLatencyP99 = Duration(secondsDur(lat))
	g.PeakSchedLatencyP99 = Duration(secondsDur(max(m.peakLat, lat)))
	if m.gc != nil {
		g.GCPauseMax = Duration(secondsDur(quantile(diffHist(m.gc(), m.gc0), 1)))
	}
	if attempts > 0 {
		g.CPUPerRequestUs = g.CPUSeconds * 1e6 / float64(attempts)
	}
	switch {
	case g.PeakCPUShare >= SaturationCPUShare:
		g.Saturated = true
		g.Reason = fmt.Sprintf("%.0f%% of its %d cores over %s, over %.0f%% is saturated", 100*g.PeakCPUShare, g.Cores, SaturationWindow, 100*SaturationCPUShare)
	case time.Duration(g.PeakSchedLatencyP99) >= SaturationSchedLatency:
		g.Saturated = true
		g.Reason = fmt.Sprintf("runnable goroutines waited %s (p99 over %s) for one of its %d cores, %s or more is saturated",
			fmtDur(time.Duration(g.PeakSchedLatencyP99)), SaturationWindow, g.Cores, SaturationSchedLatency)
	}
	return g
}

func secondsDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// diffHist returns the counts of b minus those of a, two readings of the
// same runtime histogram (a nil: b's own counts); nil when b is nil.
func diffHist(b, a *metrics.Float64Histogram) *metrics.Float64Histogram {
	if b == nil {
		return nil
	}
	d := &metrics.Float64Histogram{Buckets: b.Buckets, Counts: make([]uint64, len(b.Counts))}
	for i, c := range b.Counts {
		if a != nil && i < len(a.Counts) {
			c -= min(c, a.Counts[i])
		}
		d.Counts[i] = c
	}
	return d
}

// quantile returns the lower bound of the bucket holding quantile q of h,
// 0 for an empty or nil histogram: a wait of at least that long, so that
// the runtime's buckets (about 25% wide) never make a wait look longer
// than it was.
func quantile(h *metrics.Float64Histogram, q float64) float64 {
	if h == nil {
		return 0
	}
	var total uint64
	for _, c := range h.Counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			return max(h.Buckets[i], 0)
		}
	}
	return 0
}

// Warnings returns the lines a report leads with, in its text and its HTML:
// each thing that makes its figures less than they seem (a saturated
// generator, clients that never started, invitations still pending).
func (r *Report) Warnings() []string {
	var out []string
	if w := r.Generator.Warning(); w != "" {
		out = append(out, w)
	}
	if w := r.Setup.Warning(); w != "" {
		out = append(out, w)
	}
	if d := r.Delivery; d != nil && d.Pending > 0 {
		out = append(out, fmt.Sprintf("NOTE: %d accepted invitations are pending, not lost: %s", d.Pending, d.PendingReason))
	}
	return out
}

// mergeGenerators combines the shards' self-measurements: CPU seconds and
// cores add up, the shares are those of the sum, the peaks and the
// scheduler latencies are the worst shard's, and the merged run is
// saturated when any shard was (Reason names it). Nil when no shard
// measured itself.
func mergeGenerators(reports []*Report) *GeneratorStats {
	var out *GeneratorStats
	var capacity, attempts float64 // core-seconds available, requests
	for i, r := range reports {
		g := r.Generator
		if g == nil {
			continue
		}
		if out == nil {
			out = &GeneratorStats{Measured: true}
		}
		out.Measured = out.Measured && g.Measured
		out.Cores += g.Cores
		out.CPUSeconds += g.CPUSeconds
		capacity += r.Elapsed().Seconds() * float64(g.Cores)
		if g.CPUPerRequestUs > 0 {
			attempts += g.CPUSeconds * 1e6 / g.CPUPerRequestUs
		}
		out.PeakCPUShare = max(out.PeakCPUShare, g.PeakCPUShare)
		out.SchedLatencyP99 = max(out.SchedLatencyP99, g.SchedLatencyP99)
		out.PeakSchedLatencyP99 = max(out.PeakSchedLatencyP99, g.PeakSchedLatencyP99)
		out.GCPauseMax = max(out.GCPauseMax, g.GCPauseMax)
		out.IncludesCluster = out.IncludesCluster || g.IncludesCluster
		out.OpenFileLimit = max(out.OpenFileLimit, g.OpenFileLimit)
		out.SharedConnLimit = max(out.SharedConnLimit, g.SharedConnLimit)
		if g.Saturated {
			who := r.Config.Shard
			if who == "" {
				who = "report " + fmt.Sprint(i)
			}
			if out.Saturated {
				out.Reason += "; "
			}
			out.Saturated = true
			out.Reason += "shard " + who + ": " + g.Reason
		}
	}
	if out != nil && capacity > 0 {
		out.CPUShare = out.CPUSeconds / capacity
	}
	if out != nil && attempts > 0 {
		out.CPUPerRequestUs = out.CPUSeconds * 1e6 / attempts
	}
	return out
}
