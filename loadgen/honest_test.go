package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/regsim"
)

// The tests in this file are the figures a user could be misled by when
// they are not honest: a schedule that forgets the polls, an invitation
// called lost that is only not yet polled for, a run in which no client
// started that exits as a success, a generator at its limit that reports
// its own delays as the server's.

// TestScheduleCountsPolls: with no invitations at all, the polls are the
// clients' timed actions, and the schedule counts them (it used to say
// "sent 0, lag 0" whatever they did).
func TestScheduleCountsPolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 2, Users: 20, PollInterval: time.Second})
		defer cl.Close()
		r, err := Run(t.Context(), Config{
			memCluster: cl, Clients: 20, RampUp: time.Second, Duration: 10 * time.Second,
			PollInterval: time.Second, InviteRate: -1, DrainTimeout: time.Second, Seed: 4,
		})
		if err != nil {
			t.Fatal(err)
		}
		polls := r.Commands["getmessages"].Requests
		// Each client's first getmessages is the loop's too; only a poll
		// cut off by the end of the run is not counted.
		if r.Schedule.Sent < polls-20 || r.Schedule.Sent == 0 {
			t.Errorf("schedule sent %d for %d polls: the polls are not in the schedule", r.Schedule.Sent, polls)
		}
		if r.Schedule.Late != 0 {
			t.Errorf("%d polls late in simulated time, where nothing delays them", r.Schedule.Late)
		}
	})
}

// TestLatePollCountsAgainstTheSchedule: a poll that starts 300 ms after it
// was due (a generator too busy to run its timer) is a late send, and its
// latency counts from when it was due, as an invitation's does.
func TestLatePollCountsAgainstTheSchedule(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	rec, err := NewRecorder(RecorderConfig{Start: start})
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{rec: rec}
	s := &sim{e: e}
	due := start.Add(time.Second)
	s.onCall(client.CallInfo{Command: "getmessages", Due: due, Start: due.Add(300 * time.Millisecond), Duration: 50 * time.Millisecond})
	s.onCall(client.CallInfo{Command: "ackmessages", Start: due.Add(350 * time.Millisecond), Duration: 50 * time.Millisecond})
	r, err := rec.Report(start.Add(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if r.Schedule.Sent != 1 || r.Schedule.Late != 1 {
		t.Errorf("schedule sent %d late %d, want the one poll sent and late", r.Schedule.Sent, r.Schedule.Late)
	}
	if got := time.Duration(r.Commands["getmessages"].Latency.Max); got < 349*time.Millisecond || got > 351*time.Millisecond {
		t.Errorf("getmessages latency %s, want 350ms: from when it was due", got)
	}
	if got := time.Duration(r.Commands["ackmessages"].Latency.Max); got > 51*time.Millisecond {
		t.Errorf("ackmessages latency %s, want its own 50ms: an ack is not scheduled", got)
	}
	if got := time.Unix(0, s.lastPoll.Load()); !got.Equal(due.Add(300 * time.Millisecond)) {
		t.Errorf("last completed poll began %s, want the poll's start", got)
	}
}

// TestNotYetPolledIsPendingNotLost: recipients on a 30 s poll, a drain
// phase the user bounded to 1 s: the invitations their recipients have not
// polled for yet are pending, with the reason, and none is lost (the run
// used to say "lost 60%").
func TestNotYetPolledIsPendingNotLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 2, Users: 40, PollInterval: 30 * time.Second})
		defer cl.Close()
		r, err := Run(t.Context(), Config{
			memCluster: cl, Clients: 40, RampUp: time.Second, Duration: 40 * time.Second,
			PollInterval: 30 * time.Second, InviteRate: 6, DrainTimeout: time.Second, Seed: 5,
		})
		if err != nil {
			t.Fatal(err)
		}
		d := r.Delivery
		t.Logf("delivery %+v", *d)
		if d.Pending == 0 || d.Lost != 0 {
			t.Errorf("pending %d lost %d, want the not yet polled-for invitations pending, none lost", d.Pending, d.Lost)
		}
		if d.Accepted != d.Received+d.Pending+d.Lost {
			t.Errorf("accepted %d != received %d + pending %d + lost %d", d.Accepted, d.Received, d.Pending, d.Lost)
		}
		if !strings.Contains(d.PendingReason, "drain phase ended before the recipients' next poll") || !strings.Contains(d.PendingReason, "30s") {
			t.Errorf("pending reason %q, want the drain phase and the 30s poll interval named", d.PendingReason)
		}
		if got := time.Duration(r.Config.EffectivePollInterval); got != 30*time.Second {
			t.Errorf("effective poll interval %s, want 30s", got)
		}
	})
}

// TestDrainWaitsForOneEffectivePoll: the server asks for a poll every
// 150 s, longer than the default drain bound of 2 min; left to its
// default, the drain phase waits the recipients' next poll, and every
// invitation arrives, each measured as a delivery.
func TestDrainWaitsForOneEffectivePoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 1, Users: 20, PollInterval: 150 * time.Second})
		defer cl.Close()
		r, err := Run(t.Context(), Config{
			memCluster: cl, Clients: 20, RampUp: time.Second, Duration: 20 * time.Second,
			PollInterval: 10 * time.Second, InviteRate: 6, Seed: 6,
		})
		if err != nil {
			t.Fatal(err)
		}
		d := r.Delivery
		if d.Accepted == 0 || d.Received != d.Accepted || d.Pending != 0 || d.Lost != 0 {
			t.Errorf("delivery %+v: want every accepted invitation received after one effective poll", *d)
		}
		if got := time.Duration(d.DrainPhase); got < 2*time.Minute {
			t.Errorf("drain phase %s, want past the 2 min default to reach the 150 s polls", got)
		}
		dl := r.Operations[opDeliver]
		if dl == nil || dl.Requests != d.Received {
			t.Fatalf("deliver operation %+v, want one per invitation received (%d)", dl, d.Received)
		}
		// Recipients poll every 150 s (±20% upwards only): a delivery takes
		// up to that, and most take a good part of it.
		if p99 := time.Duration(dl.Latency.P99); p99 < 30*time.Second || p99 > 181*time.Second {
			t.Errorf("deliver p99 %s, want within one 150-180 s poll wait", p99)
		}
		var delivered int64
		var slowest Duration
		for _, p := range r.Series.Points {
			delivered += p.Delivered
			slowest = max(slowest, p.DeliverP99)
		}
		if delivered != d.Received || slowest < Duration(30*time.Second) {
			t.Errorf("series: %d deliveries, slowest p99 %s; want all %d, the slowest p99 past 30 s", delivered, time.Duration(slowest), d.Received)
		}
		th, err := ParseThreshold("p99{deliver}<200s")
		if err != nil {
			t.Fatal(err)
		}
		if crossed := Check(r, th); len(crossed) != 0 {
			t.Errorf("p99{deliver}<200s crossed: %v", crossed)
		}
	})
}

// TestTrackerTellsLostFromPending: an accepted invitation whose recipient
// completed a poll begun after the acceptance and never got it is lost;
// one whose recipient has not polled since is pending; one received
// before its sender learned of the acceptance is delivered in 0.
func TestTrackerTellsLostFromPending(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	rec, err := NewRecorder(RecorderConfig{Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracker(rec)
	tr.created("lost", 1)
	tr.created("pending", 2)
	tr.created("early", 3)
	tr.created("queued", 3)
	tr.created("refused", 3)
	tr.acceptedAt("lost", t0)
	tr.acceptedAt("pending", t0)
	tr.receivedAt("early", t0.Add(time.Second))
	tr.acceptedAt("early", t0.Add(2*time.Second))
	tr.drained("id-q", t0.Add(3*time.Second)) // the drain before the receipt
	tr.queuedAs("queued", "id-q")
	if got := tr.acceptedCount(); got != 4 {
		t.Errorf("accepted %d, want 4 (refused is not)", got)
	}
	lost, pending := tr.unreceived(func(to int) time.Time {
		switch to {
		case 1:
			return t0.Add(time.Second) // polled after the acceptance
		case 2:
			return t0.Add(-time.Second) // not since
		}
		return t0.Add(time.Hour)
	})
	// "queued" was accepted by the drain at t0+3s and recipient 3 polled
	// after it: lost too.
	if lost != 2 || pending != 1 {
		t.Errorf("lost %d pending %d, want 2 and 1", lost, pending)
	}
	r, err := rec.Report(t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if dl := r.Operations[opDeliver]; dl == nil || dl.Requests != 1 || dl.Latency.Max != 0 {
		t.Errorf("deliver %+v, want the early one, in 0", dl)
	}
}

// TestSetupFailuresAreCounted: users that do not exist cannot log in: the
// report counts them with the server's code and message, says so first,
// and a run in which no client started at all is an error (the CLI's exit
// 3), with the report.
func TestSetupFailuresAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 1, Users: 10, PollInterval: time.Second})
		defer cl.Close()
		r, err := Run(t.Context(), Config{
			memCluster: cl, Clients: 15, RampUp: time.Second, Duration: 5 * time.Second,
			PollInterval: time.Second, InviteRate: -1, DrainTimeout: time.Second, Seed: 7,
		})
		if err != nil {
			t.Fatal(err)
		}
		st := r.Setup
		if st == nil || st.Started != 10 || st.Failed != 5 || len(st.Failures) != 1 {
			t.Fatalf("setup %+v, want 10 started and 5 failed for one reason", st)
		}
		f := st.Failures[0]
		if f.Step != "loginuser" || f.Class != ClassException || f.Primary == 0 || f.Count != 5 || f.Message == "" {
			t.Errorf("failure %+v, want loginuser's exception with its code and message, 5 times", f)
		}
		if w := st.Warning(); !strings.Contains(w, "5 of 15 clients never started") {
			t.Errorf("warning %q", w)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 1, Users: 10, PollInterval: time.Second})
		defer cl.Close()
		r, err := Run(t.Context(), Config{
			memCluster: cl, Clients: 10, Password: "not-the-password", RampUp: time.Second, Duration: 5 * time.Second,
			PollInterval: time.Second, InviteRate: -1, DrainTimeout: time.Second, Seed: 7,
		})
		if !errors.Is(err, ErrNoClientStarted) {
			t.Fatalf("err %v, want ErrNoClientStarted", err)
		}
		if r == nil || r.Setup == nil || r.Setup.Failed != 10 {
			t.Fatalf("report %+v: want it, with 10 failed starts", r)
		}
	})
}

// TestSaturatedGeneratorIsFlagged: a generator that used 95% of its cores
// for a window is saturated, says so, and a quiet one is not; without a
// CPU clock nothing is claimed.
func TestSaturatedGeneratorIsFlagged(t *testing.T) {
	run := func(cpuPerSecond time.Duration, lat float64) *GeneratorStats {
		var cpu time.Duration
		m := newSelfMeter(func() time.Duration { return cpu })
		m.cores = 2
		var counts uint64
		m.sched = func() *metrics.Float64Histogram {
			// Every reading adds 100 waits of lat seconds.
			counts += 100
			return &metrics.Float64Histogram{Buckets: []float64{0, lat / 2, lat, 10}, Counts: []uint64{0, counts, 0}}
		}
		t0 := time.Unix(1_700_000_000, 0)
		m.begin(t0)
		for i := 1; i <= 30; i++ {
			cpu += cpuPerSecond
			m.tick(t0.Add(time.Duration(i) * time.Second))
		}
		return m.stats(t0.Add(30*time.Second), 1000, true)
	}
	hot := run(1900*time.Millisecond, 0.0001)
	if !hot.Saturated || hot.PeakCPUShare < 0.94 || hot.CPUSeconds < 56 || hot.Cores != 2 {
		t.Errorf("1.9 CPU-seconds a second on 2 cores: %+v, want saturated at 95%%", hot)
	}
	if w := hot.Warning(); !strings.HasPrefix(w, "WARNING:") || !strings.Contains(w, "95%") || !strings.Contains(w, "embedded cluster") {
		t.Errorf("warning %q", w)
	}
	if got := hot.CPUPerRequestUs; got < 56_000 || got > 58_000 {
		t.Errorf("CPU per request %.0f µs, want 57 s over 1000 requests", got)
	}
	cool := run(200*time.Millisecond, 0.0001)
	if cool.Saturated || cool.Warning() != "" {
		t.Errorf("10%% CPU: %+v, want not saturated", cool)
	}
	waiting := run(200*time.Millisecond, 0.05)
	if !waiting.Saturated || !strings.Contains(waiting.Reason, "waited") || !strings.Contains(waiting.Warning(), "fell behind") {
		t.Errorf("goroutines waiting 50 ms for a core: %+v, want saturated", waiting)
	}
	var m selfMeter
	m.begin(time.Now())
	if g := m.stats(time.Now().Add(time.Second), 10, false); g.Measured || g.Saturated {
		t.Errorf("no CPU clock: %+v, want nothing claimed", g)
	}
}

// TestUntrustedRunSaysSoFirst: a run whose generator was saturated, or
// whose clients did not all start, or whose invitations are pending, says
// so in the first lines of its text and in a banner of its HTML, and the
// JSON carries the generator object.
func TestUntrustedRunSaysSoFirst(t *testing.T) {
	r := &Report{
		Version: ReportVersion, Settings: DefaultHistogramSettings(),
		Start: time.Unix(1_700_000_000, 0), End: time.Unix(1_700_000_060, 0),
		Config:    RunConfig{Clients: 150},
		Generator: &GeneratorStats{Measured: true, CPUSeconds: 118, Cores: 2, CPUShare: 0.98, PeakCPUShare: 0.99, Saturated: true, Reason: "99% of its 2 cores over 10s"},
		Setup:     &SetupStats{Clients: 150, Started: 100, Failed: 50, Failures: []SetupFailure{{Step: "loginuser", Class: ClassException, Primary: -30101, Message: "unknown user", Count: 50}}},
		Delivery:  &Delivery{Accepted: 10, Received: 4, Pending: 6, PendingReason: pendingInterrupted},
	}
	var text strings.Builder
	if err := TextReporter(r)(&text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text.String(), "\n")
	if !strings.HasPrefix(lines[0], "WARNING: the generator reached its limit") ||
		!strings.HasPrefix(lines[1], "WARNING: 50 of 150 clients never started") || !strings.Contains(lines[1], "-30101") ||
		!strings.HasPrefix(lines[2], "NOTE: 6 accepted invitations are pending, not lost") {
		t.Errorf("first lines:\n%s", strings.Join(lines[:4], "\n"))
	}
	if !strings.Contains(text.String(), "pending 6 (the run was interrupted") || !strings.Contains(text.String(), "lost 0") {
		t.Errorf("delivery line does not say 6 pending and 0 lost:\n%s", text.String())
	}
	var html strings.Builder
	if err := HTMLReporter(r)(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `<p class="warn warning">WARNING: the generator reached its limit`) {
		t.Errorf("the HTML has no banner for the saturated generator")
	}
	var js strings.Builder
	if err := JSONReporter(r)(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"generator": {`, `"cpu_seconds": 118`, `"cores": 2`, `"cpu_share": 0.98`, `"saturated": true`, `"pending": 6`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

// TestDeliveryLatencyIsNotTheRampUp: invitations go to clients that poll
// already, so that a delivery's latency is the SDK's and the server's (a
// poll interval at most), not the wait for a desktop the ramp-up has not
// started yet (up to a minute here).
func TestDeliveryLatencyIsNotTheRampUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 2, Users: 40, PollInterval: 2 * time.Second})
		defer cl.Close()
		r, err := Run(t.Context(), Config{
			memCluster: cl, Clients: 40, RampUp: time.Minute, Duration: 70 * time.Second,
			PollInterval: 2 * time.Second, InviteRate: 6, Seed: 8,
		})
		if err != nil {
			t.Fatal(err)
		}
		dl := r.Operations[opDeliver]
		if dl == nil || dl.Requests < 100 {
			t.Fatalf("deliver %+v, want a few hundred", dl)
		}
		// A 2 s poll, +20% jitter, after the first poll's random delay.
		if max := time.Duration(dl.Latency.Max); max > 5*time.Second {
			t.Errorf("deliver max %s, want within a poll wait (2.4 s)", max)
		}
	})
}

// TestLastSampleIsOfTheLiveFleet: the report's last gauge sample is of the
// fleet as the run ended, all Green against a healthy cluster, not of
// clients already closed (neither Green nor Red, which a merge would carry
// forward as a fleet that lost its Green clients).
func TestLastSampleIsOfTheLiveFleet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 2, Users: 10, PollInterval: time.Second})
		defer cl.Close()
		r, err := Run(t.Context(), Config{
			memCluster: cl, Clients: 10, RampUp: time.Second, Duration: 5 * time.Second,
			PollInterval: time.Second, InviteRate: -1, DrainTimeout: time.Second, Seed: 9,
		})
		if err != nil {
			t.Fatal(err)
		}
		var last *Point
		for i := range r.Series.Points {
			if p := &r.Series.Points[i]; p.Sampled {
				last = p
			}
		}
		if last == nil || last.Clients != 10 || last.Green != 10 {
			t.Errorf("last sample %+v, want 10 clients, 10 Green", last)
		}
	})
}

// TestInterruptDuringDrainSaysInterrupted: Ctrl-C in the drain phase
// leaves invitations pending because the run was interrupted, and the
// report says so.
func TestInterruptDuringDrainSaysInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 1, Users: 20, PollInterval: 30 * time.Second})
		defer cl.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 32*time.Second)
		defer cancel()
		r, err := Run(ctx, Config{
			memCluster: cl, Clients: 20, RampUp: time.Second, Duration: 30 * time.Second,
			PollInterval: 30 * time.Second, InviteRate: 12, Seed: 10,
		})
		if err != nil {
			t.Fatal(err)
		}
		if d := r.Delivery; d.Pending == 0 || !strings.HasPrefix(d.PendingReason, pendingInterrupted) {
			t.Errorf("delivery %+v, want pending because of the interruption", *d)
		}
	})
}

// TestEmptyShardIsNotAFailure: a shard that owns no client (more shards
// than clients) has nothing to start, which is not ErrNoClientStarted.
func TestEmptyShardIsNotAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 1, Users: 3, PollInterval: time.Second})
		defer cl.Close()
		_, err := Run(t.Context(), Config{
			memCluster: cl, Clients: 3, Shard: Shard{Index: 3, Count: 4}, RampUp: time.Second, Duration: 2 * time.Second,
			PollInterval: time.Second, DrainTimeout: time.Second, Seed: 11,
		})
		if err != nil {
			t.Errorf("empty shard: %v, want no error", err)
		}
	})
}

// TestPhase: the live view names the run's phase and the time left.
func TestPhase(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	e := &engine{start: t0, cfg: Config{RampUp: 10 * time.Second, Duration: 60 * time.Second,
		Outages: []Outage{{Mode: OutageDown, At: 20 * time.Second, Duration: 10 * time.Second}}}}
	for _, tc := range []struct {
		at   time.Duration
		want string
		left time.Duration
	}{{5 * time.Second, PhaseRampUp, 55 * time.Second}, {15 * time.Second, PhaseLoad, 45 * time.Second},
		{25 * time.Second, PhaseOutage, 35 * time.Second}, {40 * time.Second, PhaseLoad, 20 * time.Second}} {
		if p, left := e.phase(t0.Add(tc.at)); p != tc.want || left != tc.left {
			t.Errorf("at %s: %s, %s left; want %s, %s", tc.at, p, left, tc.want, tc.left)
		}
	}
	e.drainEnds.Store(t0.Add(90 * time.Second).UnixNano())
	if p, left := e.phase(t0.Add(70 * time.Second)); p != PhaseDrain || left != 20*time.Second {
		t.Errorf("in the drain: %s, %s left", p, left)
	}
}

// TestSlowDownAfterOutage: with the server-directed slow-down, the
// embedded cluster asks for polls 60 s apart for a minute after the
// outage, the clients obey, and the load after the recovery is lower than
// with client-side spreading alone; the report echoes the settings.
func TestSlowDownAfterOutage(t *testing.T) {
	polls := func(sd SlowDown) (after int64, r *Report) {
		synctest.Test(t, func(t *testing.T) {
			cl := memCluster(t, regsim.Config{Instances: 2, Users: 100, PollInterval: 5 * time.Second})
			defer cl.Close()
			var err error
			r, err = Run(t.Context(), Config{
				memCluster: cl, Clients: 100, RampUp: time.Second, Duration: 120 * time.Second,
				PollInterval: 5 * time.Second, InviteRate: -1, DrainTimeout: time.Second, Seed: 12,
				Outages:  []Outage{{Mode: OutageDown, At: 20 * time.Second, Duration: 10 * time.Second}},
				SlowDown: sd,
			})
			if err != nil {
				t.Fatal(err)
			}
		})
		// The minute after the recovery has settled (30 s to 90 s).
		for i, p := range r.Series.Points {
			if at := r.Series.Time(i).Sub(r.Start); at >= 50*time.Second && at < 90*time.Second {
				after += p.Requests
			}
		}
		return after, r
	}
	plain, _ := polls(SlowDown{})
	slowed, r := polls(SlowDown{Interval: 60 * time.Second, For: time.Minute})
	t.Logf("requests 20-60 s after the recovery: %d with client-side spreading alone, %d with the server's slow-down", plain, slowed)
	if slowed*2 > plain {
		t.Errorf("with polls asked 60 s apart the load after recovery is %d, want under half of %d", slowed, plain)
	}
	if r.Config.SlowDown != "1m0s:1m0s" || r.Config.RecoverySpread != Duration(client.DefaultRecoverySpread) || r.Config.DrainRate != 5 {
		t.Errorf("settings echoed %+v", r.Config)
	}
	var text strings.Builder
	if err := TextReporter(r)(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"poll 5s ±20%", "backoff max 2m0s", "recovery spread " + client.DefaultRecoverySpread.String(), "drain 5/s", "server slow-down after outages 1m0s:1m0s"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the text report does not say %q", want)
		}
	}
}

func TestParseSlowDown(t *testing.T) {
	if sd, err := ParseSlowDown("60s:2m"); err != nil || sd != (SlowDown{Interval: time.Minute, For: 2 * time.Minute}) {
		t.Errorf("60s:2m: %+v, %v", sd, err)
	}
	for _, bad := range []string{"", "60s", "60s:", ":2m", "0s:2m", "60s:-1s", "x:2m"} {
		if _, err := ParseSlowDown(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestReportHoldsNoURLPassword: a URL with credentials is used as given
// but reaches the report (JSON, text) redacted.
func TestReportHoldsNoURLPassword(t *testing.T) {
	e := &engine{cfg: Config{URLs: []string{"https://ops:s3cret@reg.staging"}, BackupURLs: []string{"https://b:t0p@reg.backup"}}}
	rc := e.runConfig()
	r := &Report{Version: ReportVersion, Settings: DefaultHistogramSettings(), Config: rc}
	var js, text strings.Builder
	if err := JSONReporter(r)(&js); err != nil {
		t.Fatal(err)
	}
	if err := TextReporter(r)(&text); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{js.String(), text.String()} {
		if strings.Contains(out, "s3cret") || strings.Contains(out, "t0p") {
			t.Errorf("a URL password reached the report:\n%s", out)
		}
	}
	if !strings.Contains(js.String(), "reg.staging") {
		t.Errorf("the URL is gone from the report")
	}
}

// TestOverlappingSlowDowns: the slow-downs of two outages close together
// overlap, and the cluster keeps the slowed interval until the last one
// ends; the report's effective poll interval is the cluster's own, not the
// slow-down's.
func TestOverlappingSlowDowns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 1, Users: 10, PollInterval: 5 * time.Second})
		defer cl.Close()
		seen := make(chan time.Duration, 2)
		go func() {
			time.Sleep(55 * time.Second)
			seen <- cl.PollInterval()
			time.Sleep(20 * time.Second)
			seen <- cl.PollInterval()
		}()
		r, err := Run(t.Context(), Config{
			memCluster: cl, Clients: 10, RampUp: time.Second, Duration: 80 * time.Second,
			PollInterval: 5 * time.Second, InviteRate: -1, DrainTimeout: time.Second, Seed: 14,
			Outages: []Outage{
				{Mode: OutageDown, At: 10 * time.Second, Duration: 10 * time.Second},
				{Mode: OutageDown, At: 35 * time.Second, Duration: 5 * time.Second},
			},
			SlowDown: SlowDown{Interval: time.Minute, For: 30 * time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		at55, at75 := <-seen, <-seen
		if at55 != time.Minute || at75 != 5*time.Second {
			t.Errorf("cluster poll interval %s at 55 s (the second slow-down runs to 70 s) and %s at 75 s; want 1m0s and 5s", at55, at75)
		}
		if got := time.Duration(r.Config.EffectivePollInterval); got != 5*time.Second {
			t.Errorf("effective poll interval %s, want the cluster's own 5s, not the slow-down's", got)
		}
	})
}

// lateInvites applies every third sendinvitation at the server and
// answers it only after the client's attempt deadline, as a server does
// that commits and then stalls: the client does not know whether it was
// applied.
type lateInvites struct {
	base http.RoundTripper
	n    *atomic.Int64 // sendinvitation requests, all clients
}

func (l *lateInvites) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	if !bytes.Contains(body, []byte("<command>sendinvitation</command>")) || l.n.Add(1)%3 != 0 {
		return l.base.RoundTrip(req)
	}
	resp, err := l.base.RoundTrip(req.WithContext(context.Background())) // applied
	if err == nil {
		resp.Body.Close()
	}
	select {
	case <-req.Context().Done():
		return nil, req.Context().Err()
	case <-time.After(time.Minute):
		return nil, errors.New("late reply never read")
	}
}

// TestLateRepliesAreCountedOnce: invitations the server applied but
// answered after the deadline are sent again under their idempotency
// keys; the accounting counts each once: accepted, received once, none
// lost or duplicated, every delivery measured.
func TestLateRepliesAreCountedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 2, Users: 20, PollInterval: 2 * time.Second})
		defer cl.Close()
		var sends atomic.Int64
		r, err := Run(t.Context(), Config{
			memCluster: cl, wrapTransport: func(rt http.RoundTripper) http.RoundTripper { return &lateInvites{base: rt, n: &sends} },
			Clients: 20, RampUp: time.Second, Duration: 30 * time.Second,
			PollInterval: 2 * time.Second, InviteRate: 12, Seed: 15,
		})
		if err != nil {
			t.Fatal(err)
		}
		d := r.Delivery
		t.Logf("delivery %+v; %d sendinvitation requests, a third answered late", *d, sends.Load())
		if sends.Load() < 30 {
			t.Fatalf("only %d sendinvitation requests: the fault was not exercised", sends.Load())
		}
		if d.Accepted == 0 || d.Received != d.Accepted || d.Lost != 0 || d.Pending != 0 || d.Duplicated != 0 || d.Queued != 0 {
			t.Errorf("delivery %+v: want every accepted invitation received once, none lost, pending or doubled", *d)
		}
		if dl := r.Operations[opDeliver]; dl == nil || dl.Requests != d.Received {
			t.Errorf("deliver %+v, want one per invitation received (%d)", dl, d.Received)
		}
	})
}

// TestFullPollIsNotConclusive: a poll whose reply held as many messages as
// it asked for may have left an invitation on the server, so it does not
// turn the invitations accepted before it into lost ones; a poll with room
// to spare does.
func TestFullPollIsNotConclusive(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	rec, err := NewRecorder(RecorderConfig{Start: start})
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{e: &engine{rec: rec}}
	first := start.Add(time.Second)
	s.onCall(client.CallInfo{Command: "getmessages", Start: first, Duration: time.Millisecond, Messages: 3})
	full := start.Add(2 * time.Second)
	s.onCall(client.CallInfo{Command: "getmessages", Start: full, Duration: time.Millisecond, Messages: client.DefaultPollMaxMessages})
	if got := time.Unix(0, s.lastPoll.Load()); !got.Equal(first) {
		t.Fatalf("last conclusive poll began %s, want %s: a full reply is not conclusive", got, first)
	}
	spare := start.Add(3 * time.Second)
	s.onCall(client.CallInfo{Command: "getmessages", Start: spare, Duration: time.Millisecond, Messages: client.DefaultPollMaxMessages - 1})
	if got := time.Unix(0, s.lastPoll.Load()); !got.Equal(spare) {
		t.Fatalf("last conclusive poll began %s, want %s", got, spare)
	}
}
