package loadgen

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/regfleet/regfleet/client"
)

// TestHerdModel is the arithmetic behind issue 12's herd target, without
// HTTP: an event model of TestDefaultsScenario's fleet in which only the
// law of the drain's start changes. 10,000 clients poll every 30 s to 36 s
// (the server's <pollinterval> of 30 s is a floor), send two invitations a
// minute each, and lose every instance from 90 s to 150 s; they probe as
// failureWait does and ack once after a poll that brought messages. For
// the SDK's law it gives the full run's figures (herd 1.7, drained 90 s);
// the law of an oracle that knows every client's place in the recovery
// shows how low a peak the backlog allows at all (1.44-1.50).
//
//	LOADGEN_HERD_MODEL=1 go test -run TestHerdModel -v ./loadgen/
func TestHerdModel(t *testing.T) {
	if os.Getenv("LOADGEN_HERD_MODEL") == "" {
		t.Skip("set LOADGEN_HERD_MODEL=1 to run the herd model")
	}
	spread := client.DefaultRecoverySpread.Seconds()
	sdk := func(r *rand.Rand, g, lu float64) float64 { return max(g, lu+spread*r.Float64()) }
	fromGreen := func(r *rand.Rand, g, lu float64) float64 { return g + 58*r.Float64() }
	mixed := func(r *rand.Rand, g, lu float64) float64 {
		if r.Float64() < 0.35 {
			return g
		}
		return g + 58*r.Float64()
	}
	sdkHerd := 0.0
	for _, law := range []struct {
		name  string
		start startLaw
	}{
		{"SDK: last failure + U[0, spread), not before Green", sdk},
		{"Green + U[0, 58 s)", fromGreen},
		{"35% at Green, else Green + U[0, 58 s)", mixed},
	} {
		for seed := uint64(1); seed <= 3; seed++ {
			m := herdModel(seed, law.start)
			if law.name[:3] == "SDK" {
				sdkHerd = max(sdkHerd, m.herd)
			}
			t.Logf("%-50s seed %d: herd %.2f, 99%% Green %.0f s, drained %.0f s", law.name, seed, m.herd, m.green99, m.drained)
		}
	}
	// The oracle: each client starts at the quantile of its rank among
	// the Green times, of the law that keeps sends flat from the recovery
	// (150 s) until 150 s + spread, given that a client queues from the
	// outage's start (90 s) until its drain.
	for seed := uint64(1); seed <= 3; seed++ {
		greens := herdModel(seed, func(*rand.Rand, float64, float64) float64 { return math.Inf(1) }).greens
		sorted := slices.Sorted(func(yield func(float64) bool) {
			for _, g := range greens {
				if !yield(g) {
					return
				}
			}
		})
		const t0, tq = 150.0, 90.0
		c := (t0 + spread - tq) / spread
		oracle := func(_ *rand.Rand, g, _ float64) float64 {
			i, _ := slices.BinarySearch(sorted, g)
			u := (float64(i) + 0.5) / float64(len(sorted))
			return max(g, (c*t0-u*tq)/(c-u))
		}
		m := herdModel(seed, oracle)
		t.Logf("%-50s seed %d: herd %.2f, 99%% Green %.0f s, drained %.0f s", "oracle (knows every client's rank)", seed, m.herd, m.green99, m.drained)
		if m.herd >= sdkHerd || m.drained > spread+10 {
			t.Errorf("the oracle's herd %.2f (drained %.0f s) is no better than the SDK law's %.2f: the model is broken", m.herd, m.drained, sdkHerd)
		}
	}
}

// startLaw gives a client's drain start from its Green time g and its last
// failed call lu.
type startLaw func(r *rand.Rand, g, lu float64) float64

type modelResult struct {
	herd, green99, drained float64
	greens                 []float64
}

type modelEvent struct {
	at     float64
	kind   int // evPoll, evInvite, evDrain
	client int
}

const (
	evPoll = iota
	evInvite
	evDrain
)

type eventHeap []modelEvent

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(modelEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// herdModel runs the fleet once; the figures are those of Outage: peak
// 1 s count after the recovery over the steady mean, from the recovery.
func herdModel(seed uint64, start startLaw) modelResult {
	const (
		n        = 10_000
		poll     = 30.0
		down, up = 90.0, 150.0
		end      = 320.0
	)
	jitter, maxWait, drainPerSec := client.DefaultPollJitter, client.DefaultPollMaxInterval.Seconds(), client.DefaultDrainRate
	// Three streams: the polls' and invitations' times, the recipients,
	// the law's draws. The Green times then do not depend on the law,
	// which the oracle needs.
	r := rand.New(rand.NewPCG(seed, 1))
	recipient := rand.New(rand.NewPCG(seed, 2))
	draws := rand.New(rand.NewPCG(seed, 3))
	count := make([]int, int(end)+1)
	var ev eventHeap
	push := func(at float64, kind, i int) { heap.Push(&ev, modelEvent{at, kind, i}) }
	// The server's <pollinterval> is the poll interval, a floor: the
	// jitter only lengthens a wait (Client.jitter).
	wait := func(d float64) float64 { return d * (1 + jitter*r.Float64()) }
	red := make([]bool, n)
	lastFail := make([]float64, n)
	failingSince := make([]float64, n)
	queued := make([]int, n)
	pending := make([]int, n) // messages waiting for the client's poll
	for i := range n {
		failingSince[i] = -1
		push(poll*r.Float64(), evPoll, i)
		push(r.ExpFloat64()*poll, evInvite, i)
	}
	isDown := func(at float64) bool { return at >= down && at < up }
	var res modelResult
	total := 0
	for ev.Len() > 0 {
		e := heap.Pop(&ev).(modelEvent)
		if e.at > end {
			break
		}
		i, sec := e.client, int(e.at)
		switch e.kind {
		case evPoll:
			count[sec]++
			if isDown(e.at) {
				red[i], lastFail[i] = true, e.at
				if failingSince[i] < 0 {
					failingSince[i] = e.at
				}
				push(e.at+wait(min(max(poll, (e.at-failingSince[i])/2), maxWait)), evPoll, i)
				continue
			}
			failingSince[i] = -1
			if red[i] {
				red[i] = false
				res.greens = append(res.greens, e.at)
				if s := start(draws, e.at, lastFail[i]); !math.IsInf(s, 1) {
					push(s, evDrain, i)
				}
			}
			if pending[i] > 0 {
				pending[i] = 0
				count[sec]++ // the ack
			}
			push(e.at+wait(poll), evPoll, i)
		case evInvite:
			push(e.at+r.ExpFloat64()*poll, evInvite, i)
			if red[i] || queued[i] > 0 {
				queued[i]++
				total++
				continue
			}
			count[sec]++
			if isDown(e.at) {
				red[i], lastFail[i] = true, e.at
				if failingSince[i] < 0 {
					failingSince[i] = e.at
				}
				queued[i]++
				total++
				continue
			}
			pending[recipient.IntN(n)]++
		case evDrain:
			if red[i] || queued[i] == 0 {
				continue
			}
			count[sec]++
			pending[recipient.IntN(n)]++
			queued[i]--
			total--
			if queued[i] > 0 {
				push(e.at+1/drainPerSec, evDrain, i)
			}
			if total == 0 && e.at > up {
				res.drained = e.at - up
			}
		}
	}
	steady := 0.0
	for _, c := range count[40:90] {
		steady += float64(c)
	}
	steady /= 50
	res.herd = float64(slices.Max(count[int(up):int(end)-1])) / steady
	if len(res.greens) > 0 {
		g := slices.Sorted(slices.Values(res.greens))
		res.green99 = g[int(0.99*float64(len(g)))] - up
	}
	return res
}
