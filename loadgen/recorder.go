package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry of every latency histogram the package records: values in
// microseconds from HistogramLowest to HistogramHighest with HistogramDigits
// significant digits, or SeriesDigits for the histograms of the per-second
// series, which only need to draw and watch percentiles over time. Reports
// carry these settings, and Merge refuses reports recorded with other ones.
const (
	HistogramLowest  = 1             // 1 µs
	HistogramHighest = 3_600_000_000 // 1 h, in µs (60 s in version 2 reports)
	HistogramDigits  = 3
	SeriesDigits     = 2
)

// Defaults of RecorderConfig.
const (
	// DefaultLateTolerance is how far behind its intended time a send may
	// start before it counts as late.
	DefaultLateTolerance = 10 * time.Millisecond
	// DefaultMaxSeconds caps the per-second series (one day).
	DefaultMaxSeconds = 86_400
)

// Caps on distinct names, so that a bug in the caller cannot make the
// recorder grow without bound. Names past a cap are counted under OtherName.
const (
	maxCommands = 32 // and as many operations
	maxKeys     = 256
	maxShards   = 64
	// defaultMaxShards caps the default number of shards, whose memory
	// grows with their number.
	defaultMaxShards = 16
	// maxPending is how many seconds a shard holds before a recording call
	// folds them into the series itself, in case Sample is not called.
	maxPending = 64
)

// OtherName is the name under which a Recorder counts commands, operations,
// endpoints or error classes once too many distinct ones have been seen (32
// commands, 32 operations, 256 endpoints, 256 classes).
const OtherName = "(other)"

// unnamed is the command or operation name recorded for an empty one.
const unnamed = "(unnamed)"

// Error classes a caller may put in Outcome.Class. They are suggestions: any
// short, fixed label works, and the engine maps client errors onto them.
const (
	ClassTimeout   = "timeout"   // no reply within the timeout
	ClassRefused   = "refused"   // connection refused
	ClassReset     = "reset"     // connection reset or closed mid-reply
	ClassHTTP      = "http"      // a non-2xx status after retries
	ClassException = "exception" // a protocol exception reply (the server was reachable)
	ClassOffline   = "offline"   // failed at once because the client was Red
	ClassCanceled  = "canceled"  // the run ended before the reply
	// ClassUnavailable: the client had no endpoint it could try (all
	// ejected or holding a Retry-After); ClassRetryBudget: its retry
	// budget was spent.
	ClassUnavailable = "unavailable"
	ClassRetryBudget = "retry-budget"
	// ClassOpenFiles: the generator ran out of file descriptors, its
	// own limit and not the server's.
	ClassOpenFiles = "open-files"
	ClassOther     = "other" // anything else
)

// Outcome says how one operation ended. The zero value is a success at an
// unknown endpoint.
type Outcome struct {
	// Class is "" for a success, otherwise the error class (one of the
	// Class… constants or another short fixed label).
	Class string
	// Endpoint is the base URL of the instance that answered last, without
	// credentials, or "" when no instance answered or it is not known.
	Endpoint string
}

// Gauges are the fleet-wide values the engine samples once per second and
// passes to Recorder.Sample.
type Gauges struct {
	Clients int64 // simulated clients running
	Green   int64 // clients whose reachability state is Green
	Red     int64 // clients whose reachability state is Red
	Outbox  int64 // items waiting in the clients' outboxes, summed
}

// RecorderConfig configures a Recorder. The zero value is valid.
type RecorderConfig struct {
	// Start is the start of the run; the per-second series counts whole
	// Unix seconds from Start's second. Zero means time.Now() at NewRecorder.
	Start time.Time
	// Shards is the number of independently locked recording shards, rounded
	// up to a power of two, at most 64. Zero means two per GOMAXPROCS, at
	// most 16. Each shard holds a 136 KiB histogram per command it has seen.
	Shards int
	// LateTolerance is the schedule lag (actual minus intended send time)
	// beyond which RecordLag counts a send as late. Zero means
	// DefaultLateTolerance.
	LateTolerance time.Duration
	// MaxSeconds caps the length of the per-second series; values for later
	// seconds are counted in the last one. Zero means DefaultMaxSeconds.
	MaxSeconds int
}

// A Recorder collects what a load run measures: a latency histogram per
// command recorded from the intended send time (so a stalled server shows in
// the percentiles instead of being hidden by a waiting sender), errors by
// class, operations per endpoint, schedule lag and late sends, and a
// per-second series of requests, errors, latency and sampled gauges.
// User operations that stand for or span protocol calls (an invitation the
// client may queue while offline) are recorded apart with RecordOperation,
// so that the calls are not counted twice.
//
// Recording is spread over shards, each with its own lock, and the shards are
// merged when the recorder is read (Live, Report); a recording call takes one
// uncontended lock in the common case (it tries the other shards before
// waiting) and allocates only when its shard first sees a command, endpoint
// or second, or its second's sparse histogram first sees a latency bucket.
// Sample folds the shards' per-second data into the series once a second;
// a shard holding 64 seconds folds them itself.
//
// Create a Recorder with NewRecorder. All methods are safe for concurrent
// use. A Recorder starts no goroutine and needs no Close.
type Recorder struct {
	start     time.Time
	base      int64 // Unix second of series point 0
	tolerance time.Duration
	maxSec    int
	mask      uint32
	shards    []shard

	cmds    names
	ops     names // user operations, see RecordOperation
	eps     names
	classes names

	mu      sync.Mutex // guards the fields below
	secs    []*secStats
	gauges  []gaugeSample
	lastG   Gauges
	totReq  int64
	totErr  int64
	pacers  []*Pacer
	lastSec int // highest second seen by fold or Sample, -1 if none
}

// shard is one independently locked part of a Recorder.
type shard struct {
	mu        sync.Mutex
	cmds      []*cmdStats     // by command index
	ops       []*cmdStats     // by operation index
	endpoints []EndpointStats // by endpoint index
	secs      []*secStats     // by second; nil once folded
	dirtyLo   int             // lowest index of secs that may be non-nil
	dirtyHi   int             // one past the highest such index
	pending   int             // non-nil entries of secs
	lag       *hdr.Histogram  // schedule lag, µs; nil until the first send
	sent      int64           // sends whose lag was recorded
	late      int64           // of which beyond the tolerance
	clipped   int64           // latencies beyond HistogramHighest
	_         [64]byte        // keeps neighbouring shards' locks off one cache line
}

// cmdStats are one shard's figures of one command or operation.
type cmdStats struct {
	hist     *hdr.Histogram // µs
	requests int64
	errors   int64
	classes  []int64 // errors by class index
}

// add counts one value of us microseconds (in range), an error of class
// index ki when ki >= 0. The shard's lock must be held.
func (c *cmdStats) add(us int64, ki int) {
	_ = c.hist.RecordValue(us) // in range: micros clamps
	c.requests++
	if ki >= 0 {
		c.errors++
		if ki >= len(c.classes) {
			c.classes = slices.Grow(c.classes, ki+1-len(c.classes))[:ki+1]
		}
		c.classes[ki]++
	}
}

// secStats is what happened in one second of the series.
type secStats struct {
	requests int64
	errors   int64
	attempts int64
	hist     *hdr.PackedHistogram // latencies of the requests intended in this second, µs
	// Deliveries of the invitations accepted in this second, and their
	// latencies (µs); dlvHist is nil until the first.
	delivered int64
	dlvHist   *hdr.PackedHistogram
}

type gaugeSample struct {
	g  Gauges
	ms int32 // milliseconds into the second at which it was taken
	ok bool
}

// NewRecorder returns a Recorder configured by cfg.
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	if cfg.Shards < 0 {
		return nil, fmt.Errorf("loadgen: RecorderConfig.Shards %d is negative", cfg.Shards)
	}
	if cfg.LateTolerance < 0 {
		return nil, fmt.Errorf("loadgen: RecorderConfig.LateTolerance %s is negative", cfg.LateTolerance)
	}
	if cfg.MaxSeconds < 0 {
		return nil, fmt.Errorf("loadgen: RecorderConfig.MaxSeconds %d is negative", cfg.MaxSeconds)
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	if cfg.Shards == 0 {
		cfg.Shards = min(2*runtime.GOMAXPROCS(0), defaultMaxShards)
	}
	if cfg.LateTolerance == 0 {
		cfg.LateTolerance = DefaultLateTolerance
	}
	if cfg.MaxSeconds == 0 {
		cfg.MaxSeconds = DefaultMaxSeconds
	}
	n := 1
	for n < cfg.Shards && n < maxShards {
		n *= 2
	}
	r := &Recorder{
		start:     cfg.Start,
		base:      cfg.Start.Unix(),
		tolerance: cfg.LateTolerance,
		maxSec:    cfg.MaxSeconds,
		mask:      uint32(n - 1),
		shards:    make([]shard, n),
		cmds:      names{max: maxCommands},
		ops:       names{max: maxCommands},
		eps:       names{max: maxKeys},
		classes:   names{max: maxKeys},
		lastSec:   -1,
	}
	for i := range r.shards {
		r.shards[i].dirtyLo = math.MaxInt
	}
	return r, nil
}

// Start returns the start of the run the recorder was configured with.
func (r *Recorder) Start() time.Time { return r.start }

// Record records one operation of command cmd that was meant to be sent at
// intended and whose outcome was known at done. The latency recorded is
// done − intended, so time spent waiting to send counts; latencies beyond
// HistogramHighest are recorded as HistogramHighest and counted as clipped.
// The operation is counted in the series second of intended.
//
// Record every operation that was offered, whatever its outcome: an operation
// that fails fast (ClassOffline) is an error with a short latency, not a
// missing sample.
func (r *Recorder) Record(cmd string, intended, done time.Time, o Outcome) {
	if cmd == "" {
		cmd = unnamed
	}
	us, clipped := micros(done.Sub(intended))
	sec := r.second(intended)
	ci := r.cmds.index(cmd)
	ei := -1
	if o.Endpoint != "" {
		ei = r.eps.index(o.Endpoint)
	}
	ki := -1
	if o.Class != "" {
		ki = r.classes.index(o.Class)
	}

	s := r.lockShard()
	s.command(ci).add(us, ki)
	if ei >= 0 {
		e := s.endpoint(ei)
		e.Requests++
		if ki >= 0 {
			e.Errors++
		}
	}
	st := s.second(sec)
	st.requests++
	if ki >= 0 {
		st.errors++
	}
	_ = st.hist.RecordValue(us)
	if clipped {
		s.clipped++
	}
	full := s.pending > maxPending
	s.mu.Unlock()
	if full {
		r.fold()
	}
}

// RecordOperation records one user operation op, such as "invite", that
// stands for or spans protocol calls: it was meant to start at intended and
// its outcome was known at done. Like Record it records done − intended (so
// an operation the client queued while offline shows its wait) and counts
// errors by o.Class, in a histogram and counters of its own that appear in
// Report.Operations.
//
// Unlike Record, it counts nowhere else: not in the report's Requests,
// Errors, Total or ByClass, not in the per-second series, the live view or
// the endpoints (o.Endpoint is ignored), and not in Clipped. The calls the
// operation makes are recorded with Record as they reach the network, and
// counting the operation there too would count them twice.
func (r *Recorder) RecordOperation(op string, intended, done time.Time, o Outcome) {
	if op == "" {
		op = unnamed
	}
	us, _ := micros(done.Sub(intended))
	oi := r.ops.index(op)
	ki := -1
	if o.Class != "" {
		ki = r.classes.index(o.Class)
	}
	s := r.lockShard()
	s.operation(oi).add(us, ki)
	s.mu.Unlock()
}

// RecordDelivery records the delivery of one message: accepted by the
// server at accepted, received by its recipient at received. It is the
// user operation "deliver" (as RecordOperation records it), and it is also
// counted, with its latency, in the per-second series, in the second of
// its acceptance (Point.Delivered, Point.DeliverP99).
func (r *Recorder) RecordDelivery(accepted, received time.Time) {
	r.RecordOperation(opDeliver, accepted, received, Outcome{})
	us, _ := micros(received.Sub(accepted))
	sec := r.second(accepted)
	s := r.lockShard()
	st := s.second(sec)
	if st.dlvHist == nil {
		st.dlvHist = newPacked()
	}
	_ = st.dlvHist.RecordValue(us)
	st.delivered++
	full := s.pending > maxPending
	s.mu.Unlock()
	if full {
		r.fold()
	}
}

// RecordLag records the schedule lag of one send: it was meant to start at
// intended and started at actual. A lag beyond the recorder's LateTolerance
// counts the send as late. A Pacer given this Recorder calls RecordLag itself.
func (r *Recorder) RecordLag(intended, actual time.Time) {
	lag := actual.Sub(intended)
	us, _ := micros(lag)
	s := r.lockShard()
	if s.lag == nil {
		s.lag = newHistogram()
	}
	_ = s.lag.RecordValue(us)
	s.sent++
	if lag > r.tolerance {
		s.late++
	}
	s.mu.Unlock()
}

// RecordAttempt counts one request put on the wire at the given time to the
// given endpoint ("" if unknown), retries included. The engine calls it from
// the client's per-attempt hook when there is one; the herd figures then use
// attempts per second rather than operations per second.
func (r *Recorder) RecordAttempt(at time.Time, endpoint string) {
	sec := r.second(at)
	ei := -1
	if endpoint != "" {
		ei = r.eps.index(endpoint)
	}
	s := r.lockShard()
	s.second(sec).attempts++
	if ei >= 0 {
		s.endpoint(ei).Attempts++
	}
	full := s.pending > maxPending
	s.mu.Unlock()
	if full {
		r.fold()
	}
}

// Sample records the fleet gauges as they were at the given time; the engine
// calls it once per second. A later sample in the same second replaces an
// earlier one. Sample also folds the shards' per-second data into the
// series, which keeps the memory of a long run proportional to its seconds.
func (r *Recorder) Sample(at time.Time, g Gauges) {
	sec := r.second(at)
	ms := int32(at.Sub(time.Unix(r.base+int64(sec), 0)) / time.Millisecond)
	r.mu.Lock()
	if sec >= len(r.gauges) {
		r.gauges = slices.Grow(r.gauges, sec+1-len(r.gauges))[:sec+1]
	}
	r.gauges[sec] = gaugeSample{g: g, ms: min(max(ms, 0), 999), ok: true}
	r.lastG = g
	r.lastSec = max(r.lastSec, sec)
	r.mu.Unlock()
	r.fold()
}

// Live is a cheap view of a run in progress, for a progress line.
type Live struct {
	Elapsed  time.Duration // since the recorder's start
	Requests int64         // operations recorded so far
	Errors   int64         // of which failed
	Rate     int64         // operations intended in the last complete second
	P99      time.Duration // their 99th percentile latency (0 when none)
	Gauges   Gauges        // the last sample
	Late     int64         // late sends so far
	// CPUShare is the generator's share of its cores over the last
	// SaturationWindow (0 until one has passed or when not measured).
	CPUShare float64
	// Phase is the run's phase (PhaseRampUp, PhaseLoad, PhaseOutage,
	// PhaseDrain; "" outside a Run) and Left the time left in the run: to
	// the end of the measured phase, then of the drain's bound.
	Phase string
	Left  time.Duration
}

// String formats l as one progress line: the time elapsed, the phase and
// the time left in it (when Phase is set), then the figures.
func (l Live) String() string {
	pct := 0.0
	if l.Requests > 0 {
		pct = 100 * float64(l.Errors) / float64(l.Requests)
	}
	s := l.Elapsed.Truncate(time.Second).String()
	if l.Phase != "" {
		s += fmt.Sprintf("  %s, %s left", l.Phase, l.Left.Round(time.Second))
	}
	s += fmt.Sprintf("  green %d  red %d  %d req/s  p99 %s  errors %d (%.2f%%)  late %d  outbox %d",
		l.Gauges.Green, l.Gauges.Red, l.Rate,
		fmtDur(l.P99), l.Errors, pct, l.Late, l.Gauges.Outbox)
	if l.CPUShare >= SaturationCPUShare {
		s += fmt.Sprintf("  GENERATOR AT %.0f%% CPU", 100*l.CPUShare)
	}
	return s
}

// Live returns the state of the run as of the given time.
func (r *Recorder) Live(at time.Time) Live {
	r.fold()
	var late int64
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		late += s.late
		s.mu.Unlock()
	}
	l := Live{Elapsed: at.Sub(r.start), Late: late}
	prev := int(at.Unix()-r.base) - 1
	r.mu.Lock()
	defer r.mu.Unlock()
	l.Requests, l.Errors, l.Gauges = r.totReq, r.totErr, r.lastG
	if prev >= 0 && prev < len(r.secs) && r.secs[prev] != nil {
		st := r.secs[prev]
		l.Rate = st.requests
		if st.hist.TotalCount() > 0 {
			l.P99 = usDur(st.hist.ValueAtPercentile(99))
		}
	}
	return l
}

// fold moves the shards' per-second data into the recorder's series.
func (r *Recorder) fold() {
	type item struct {
		sec int
		st  *secStats
	}
	var moved []item
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for j := s.dirtyLo; j < s.dirtyHi; j++ {
			if st := s.secs[j]; st != nil {
				moved = append(moved, item{j, st})
				s.secs[j] = nil
			}
		}
		s.dirtyLo, s.dirtyHi, s.pending = math.MaxInt, 0, 0
		s.mu.Unlock()
	}
	if len(moved) == 0 {
		return
	}
	r.mu.Lock()
	for _, it := range moved {
		if it.sec >= len(r.secs) {
			r.secs = slices.Grow(r.secs, it.sec+1-len(r.secs))[:it.sec+1]
		}
		r.totReq += it.st.requests
		r.totErr += it.st.errors
		r.lastSec = max(r.lastSec, it.sec)
		dst := r.secs[it.sec]
		if dst == nil {
			r.secs[it.sec] = it.st // adopt: the shard no longer refers to it
			continue
		}
		dst.requests += it.st.requests
		dst.errors += it.st.errors
		dst.attempts += it.st.attempts
		dst.hist.Merge(it.st.hist)
		if it.st.dlvHist != nil {
			if dst.dlvHist == nil {
				dst.dlvHist = newPacked()
			}
			dst.dlvHist.Merge(it.st.dlvHist)
			dst.delivered += it.st.delivered
		}
	}
	r.mu.Unlock()
}

// lockShard locks and returns a shard: a random one, or the next free one
// after it if it is busy, or the random one after a full round of busy ones.
func (r *Recorder) lockShard() *shard {
	i := rand.Uint32()
	for probe := uint32(0); probe <= r.mask; probe++ {
		s := &r.shards[(i+probe)&r.mask]
		if s.mu.TryLock() {
			return s
		}
	}
	s := &r.shards[i&r.mask]
	s.mu.Lock()
	return s
}

// second returns the series index of t's second, clamped to the series.
func (r *Recorder) second(t time.Time) int {
	d := t.Unix() - r.base
	if d < 0 {
		return 0
	}
	if d >= int64(r.maxSec) {
		return r.maxSec - 1
	}
	return int(d)
}

// command returns the stats of command index i. s.mu must be held.
func (s *shard) command(i int) *cmdStats { return statsAt(&s.cmds, i) }

// operation returns the stats of operation index i. s.mu must be held.
func (s *shard) operation(i int) *cmdStats { return statsAt(&s.ops, i) }

// statsAt returns (*list)[i], growing the list and creating the stats.
func statsAt(list *[]*cmdStats, i int) *cmdStats {
	if i >= len(*list) {
		*list = slices.Grow(*list, i+1-len(*list))[:i+1]
	}
	c := (*list)[i]
	if c == nil {
		c = &cmdStats{hist: newHistogram()}
		(*list)[i] = c
	}
	return c
}

// endpoint returns the stats of endpoint index i. s.mu must be held.
func (s *shard) endpoint(i int) *EndpointStats {
	if i >= len(s.endpoints) {
		s.endpoints = slices.Grow(s.endpoints, i+1-len(s.endpoints))[:i+1]
	}
	return &s.endpoints[i]
}

// second returns the stats of series second i, creating them. s.mu must be
// held.
func (s *shard) second(i int) *secStats {
	if i >= len(s.secs) {
		s.secs = slices.Grow(s.secs, i+1-len(s.secs))[:i+1]
	}
	st := s.secs[i]
	if st == nil {
		st = &secStats{hist: newPacked()}
		s.pending++
		s.secs[i] = st
		s.dirtyLo = min(s.dirtyLo, i)
		s.dirtyHi = max(s.dirtyHi, i+1)
	}
	return st
}

func newHistogram() *hdr.Histogram {
	return hdr.New(HistogramLowest, HistogramHighest, HistogramDigits)
}

// newPacked returns an empty histogram for a second of the series.
func newPacked() *hdr.PackedHistogram {
	return hdr.NewPacked(HistogramLowest, HistogramHighest, SeriesDigits)
}

// micros converts d to histogram units, clamped to [0, HistogramHighest];
// clipped reports a value above the range.
func micros(d time.Duration) (us int64, clipped bool) {
	us = d.Microseconds()
	switch {
	case us < 0:
		return 0, false
	case us > HistogramHighest:
		return HistogramHighest, true
	}
	return us, false
}

// usDur converts histogram units to a duration.
func usDur(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// names maps names to small dense indexes. Lookups of known names take no
// lock: the map is replaced, never changed, when a name is added. The zero
// value with max set is ready for use.
type names struct {
	m   atomic.Pointer[map[string]int]
	mu  sync.Mutex // serializes additions; guards list
	max int
	// list holds the names by index.
	list []string
}

// index returns the index of name, adding it, or OtherName once max names
// are known.
func (n *names) index(name string) int {
	if p := n.m.Load(); p != nil {
		if i, ok := (*p)[name]; ok {
			return i
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var old map[string]int
	if p := n.m.Load(); p != nil {
		old = *p
	}
	if i, ok := old[name]; ok {
		return i
	}
	if len(old) >= n.max-1 {
		if i, ok := old[OtherName]; ok {
			return i
		}
		name = OtherName
	}
	m := make(map[string]int, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	i := len(n.list)
	m[name] = i
	n.list = append(n.list, name)
	n.m.Store(&m)
	return i
}

// all returns the known names by index.
func (n *names) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.list)
}

// Report returns what the recorder holds as a Report of a run from the
// recorder's start to end, with Version, Histogram, the command and
// operation figures, errors, endpoints, schedule and series filled in and
// summarized. The engine then sets Config and Delivery and calls AddOutage.
// Recording may go on concurrently; the report holds at least what was
// recorded before the call.
func (r *Recorder) Report(end time.Time) (*Report, error) {
	r.fold()
	epNames, classNames := r.eps.all(), r.classes.all()
	cmds, ops := newStatsSum(r.cmds.all()), newStatsSum(r.ops.all())
	eps := make([]EndpointStats, len(epNames))
	lag := newHistogram()
	var sent, late, clipped int64
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		cmds.add(s.cmds, classNames)
		ops.add(s.ops, classNames)
		for ei, e := range s.endpoints {
			if ei < len(eps) {
				eps[ei].Requests += e.Requests
				eps[ei].Errors += e.Errors
				eps[ei].Attempts += e.Attempts
			}
		}
		if s.lag != nil {
			lag.Merge(s.lag)
		}
		sent += s.sent
		late += s.late
		clipped += s.clipped
		s.mu.Unlock()
	}

	rep := &Report{
		Version:  ReportVersion,
		Settings: DefaultHistogramSettings(),
		Start:    r.start,
		End:      end,
		Clipped:  clipped,
		Commands: make(map[string]*CommandStats),
		Series:   Series{Start: r.base},
	}
	if err := cmds.encode(rep.Commands, "command"); err != nil {
		return nil, err
	}
	operations := make(map[string]*CommandStats)
	if err := ops.encode(operations, "operation"); err != nil {
		return nil, err
	}
	if len(operations) > 0 {
		rep.Operations = operations
	}
	// Errors by class are the commands' only: an operation's errors are
	// those of its calls, or no call at all.
	for _, st := range rep.Commands {
		for class, n := range st.ErrorsByClass {
			if rep.ByClass == nil {
				rep.ByClass = make(map[string]int64)
			}
			rep.ByClass[class] += n
		}
	}
	for ei, e := range eps {
		if e != (EndpointStats{}) {
			if rep.Endpoints == nil {
				rep.Endpoints = make(map[string]EndpointStats)
			}
			rep.Endpoints[epNames[ei]] = e
		}
	}
	rep.Schedule = Schedule{Sent: sent, Late: late, Tolerance: Duration(r.tolerance)}
	if lag.TotalCount() > 0 {
		enc, err := lag.Encode(hdr.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("loadgen: encode schedule lag histogram: %w", err)
		}
		rep.Schedule.LagHist = string(enc)
	}

	r.mu.Lock()
	pacers := slices.Clone(r.pacers)
	// The series covers the seconds up to the end, not the second that
	// starts at an end on a whole second.
	n := max(r.lastSec+1, len(r.secs), len(r.gauges), r.second(end.Add(-time.Nanosecond))+1)
	points := make([]Point, n)
	for i := range points {
		p := &points[i]
		if i < len(r.secs) && r.secs[i] != nil {
			st := r.secs[i]
			p.Requests, p.Errors, p.Attempts = st.requests, st.errors, st.attempts
			if st.hist.TotalCount() > 0 {
				enc, err := st.hist.Encode()
				if err != nil {
					r.mu.Unlock()
					return nil, fmt.Errorf("loadgen: encode histogram of second %d: %w", i, err)
				}
				p.Hist = string(enc)
			}
			if st.dlvHist != nil {
				enc, err := st.dlvHist.Encode()
				if err != nil {
					r.mu.Unlock()
					return nil, fmt.Errorf("loadgen: encode deliveries of second %d: %w", i, err)
				}
				p.Delivered, p.DeliverHist = st.delivered, string(enc)
			}
		}
		if i < len(r.gauges) && r.gauges[i].ok {
			g := r.gauges[i]
			p.Sampled, p.SampleMs = true, g.ms
			p.Clients, p.Green, p.Red, p.Outbox = g.g.Clients, g.g.Green, g.g.Red, g.g.Outbox
		}
	}
	r.mu.Unlock()
	rep.Series.Points = points

	for _, p := range pacers {
		st := p.Stats(end)
		rep.Schedule.Offered += st.Due
		rep.Schedule.Missed += st.Missed
	}
	if err := rep.Recompute(); err != nil {
		return nil, err
	}
	return rep, nil
}

// statsSum sums the shards' stats of the commands or of the operations.
type statsSum struct {
	names []string // by index, as known when the sum began
	hists []*hdr.Histogram
	stats []CommandStats
}

func newStatsSum(names []string) *statsSum {
	return &statsSum{names: names, hists: make([]*hdr.Histogram, len(names)), stats: make([]CommandStats, len(names))}
}

// add adds one shard's stats, indexed like a.names; the shard's lock must
// be held. Stats of names added after the sum began are left out.
func (a *statsSum) add(list []*cmdStats, classNames []string) {
	for i, c := range list {
		if c == nil || i >= len(a.names) {
			continue
		}
		if a.hists[i] == nil {
			a.hists[i] = newHistogram()
		}
		a.hists[i].Merge(c.hist)
		st := &a.stats[i]
		st.Requests += c.requests
		st.Errors += c.errors
		for ki, n := range c.classes {
			if n == 0 || ki >= len(classNames) {
				continue
			}
			if st.ErrorsByClass == nil {
				st.ErrorsByClass = make(map[string]int64)
			}
			st.ErrorsByClass[classNames[ki]] += n
		}
	}
}

// encode puts the summed stats of every name seen into dst, by name, with
// their histograms encoded; kind ("command", "operation") names them in
// errors.
func (a *statsSum) encode(dst map[string]*CommandStats, kind string) error {
	for i, h := range a.hists {
		if h == nil {
			continue
		}
		enc, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
		if err != nil {
			return fmt.Errorf("loadgen: encode histogram of %s %s: %w", kind, a.names[i], err)
		}
		st := a.stats[i]
		st.Hist = string(enc)
		dst[a.names[i]] = &st
	}
	return nil
}

// addPacer makes p's offered and missed sends part of the reports.
func (r *Recorder) addPacer(p *Pacer) {
	r.mu.Lock()
	r.pacers = append(r.pacers, p)
	r.mu.Unlock()
}
