package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/offline/sqlite"
	"github.com/regfleet/regfleet/regsim"
)

// The Run tests below run the whole engine, real SDK clients included,
// inside a testing/synctest bubble against a regsim cluster with no sockets
// (regsim.NewCluster, reached through its in-memory Transport), so time is
// fake: a 50 ms server latency measures as 50 ms, a stall as long as it
// lasts, whatever the machine's speed, and a 30 s run takes as long as the
// CPU work in it. They assert on what the report says, not on how the
// bubble's goroutines happened to be scheduled within one instant.
// TestRunStopsWhenCanceled alone takes the real network path (the embedded
// cluster on loopback), with no assertion that depends on timing.

// memCluster builds a socket-free cluster for a run inside the current
// synctest bubble; the caller closes it (engine runs on memCluster do not).
func memCluster(t *testing.T, cfg regsim.Config) *regsim.Cluster {
	t.Helper()
	cl, err := regsim.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// inviteStats returns the figures of the user operation "send an
// invitation" (opInvite), measured from the intended send time.
func inviteStats(r *Report) *CommandStats {
	return r.Operations[opInvite]
}

// TestRunMeasuresServerLatency: against a cluster that answers every request
// after 50 ms, the reported p50 of the polls is 50 ms ± 5 ms, no poll fails,
// and the clients spread their calls over both instances.
func TestRunMeasuresServerLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 2, Users: 20, PollInterval: time.Second})
		defer cl.Close()
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{Latency: 50 * time.Millisecond})
		}
		r, err := Run(t.Context(), Config{
			memCluster:   cl,
			Clients:      20,
			RampUp:       500 * time.Millisecond,
			Duration:     5 * time.Second,
			PollInterval: time.Second,
			InviteRate:   -1,
			DrainTimeout: time.Second,
			Seed:         1,
		})
		if err != nil {
			t.Fatal(err)
		}
		polls := r.Commands["getmessages"]
		if polls == nil || polls.Requests < 40 {
			t.Fatalf("too few polls measured: %+v", polls)
		}
		near50 := func(d Duration) bool {
			return time.Duration(d) >= 45*time.Millisecond && time.Duration(d) <= 55*time.Millisecond
		}
		if p50 := polls.Latency.P50; !near50(p50) {
			t.Errorf("getmessages p50 = %s, want 50ms ± 5ms", time.Duration(p50))
		}
		// With fake time every poll takes the server's 50 ms, not a bit more.
		if lo, hi := polls.Latency.Min, polls.Latency.Max; !near50(lo) || !near50(hi) {
			t.Errorf("getmessages from %s to %s, want every poll 50ms ± 5ms", time.Duration(lo), time.Duration(hi))
		}
		if polls.Errors != 0 || r.Errors != 0 {
			t.Errorf("%d poll errors, %d in all, against a healthy cluster: %v", polls.Errors, r.Errors, r.ByClass)
		}
		// Round robin over both instances.
		for _, u := range cl.URLs() {
			if r.Endpoints[u].Requests == 0 {
				t.Errorf("instance %s got no calls; endpoints %v", u, r.Endpoints)
			}
		}
	})
}

// TestRunOpenModelShowsStall: at a fixed open-model rate against a server
// that stalls every request arriving in a 1 s window every 5 s, the p99 is
// at least 900 ms and every offered send is sent: the stall is not hidden
// by senders that wait for it (coordinated omission).
func TestRunOpenModelShowsStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			rate     = 40
			duration = 10 * time.Second
			rampUp   = time.Millisecond
		)
		cl := memCluster(t, regsim.Config{Instances: 1, Users: 10, PollInterval: time.Minute})
		defer cl.Close()
		// The stall driver: requests arriving in [1s, 2s) and [6s, 7s) of the
		// run hang until the window ends. Run reads its start from the same
		// fake clock in the same instant, so the windows are exact.
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		start := time.Now()
		wg.Go(func() {
			in := cl.Instance(0)
			defer in.SetFault(regsim.Fault{})
			for at := time.Second; at < duration; at += 5 * time.Second {
				if sleepUntil(ctx, start.Add(at)) != nil {
					return
				}
				in.SetFault(regsim.Fault{Hang: true})
				if sleepUntil(ctx, start.Add(at+time.Second)) != nil {
					return
				}
				in.SetFault(regsim.Fault{})
			}
		})
		r, err := Run(ctx, Config{
			memCluster:   cl,
			Clients:      10,
			RampUp:       rampUp,
			Duration:     duration,
			PollInterval: time.Minute,
			Rate:         rate,
			DrainTimeout: time.Second,
			Seed:         2,
		})
		if err != nil {
			t.Fatal(err)
		}
		inv := inviteStats(r)
		if inv == nil {
			t.Fatalf("no invitations measured; operations %v", r.OperationNames())
		}
		lat := inv.Latency
		t.Logf("invite: %d recorded, errors %v, p50 %s, p99 %s, max %s; schedule: offered %d, sent %d, missed %d",
			inv.Requests, inv.ErrorsByClass, time.Duration(lat.P50), time.Duration(lat.P99), time.Duration(lat.Max),
			r.Schedule.Offered, r.Schedule.Sent, r.Schedule.Missed)
		// A fifth of the sends arrive in a stall and wait for its end, up to
		// its full second; the others are answered at once (fake time).
		if p99 := time.Duration(lat.P99); p99 < 900*time.Millisecond || p99 > time.Second {
			t.Errorf("invite p99 = %s, want 900ms to 1s: the stall is hidden", p99)
		}
		if longest := time.Duration(lat.Max); longest > time.Second {
			t.Errorf("invite max = %s, longer than the 1s stall", longest)
		}
		if p50 := time.Duration(lat.P50); p50 > time.Millisecond {
			t.Errorf("invite p50 = %s, want 0: most sends arrive outside the stalls", p50)
		}
		// Sends n = 0, 1, … are intended at 25 ms·n (+ 0.5 ms for the
		// ramp-up), the last one before the end at 9.9755 s: 400 in all.
		s := r.Schedule
		if s.Offered != rate*int64(duration/time.Second) || s.Missed != 0 || s.Late != 0 || inv.Requests != s.Offered {
			t.Errorf("offered %d (want %d), missed %d, late %d, recorded %d: the full offered rate was not sent on time",
				s.Offered, rate*int64(duration/time.Second), s.Missed, s.Late, inv.Requests)
		}
	})
}

// sleepUntil waits until t on the clock of the test (fake inside a synctest
// bubble), or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	return SystemClock().Sleep(ctx, time.Until(t))
}

// TestRunOutageNaiveHerd: an outage run reports time to Green and the herd
// ratio, and clients with jitter and recovery spread switched off make a
// larger herd than the SDK's defaults.
func TestRunOutageNaiveHerd(t *testing.T) {
	const clients = 600
	run := func(t *testing.T, naive bool) (o OutageFigures) {
		synctest.Test(t, func(t *testing.T) {
			cl := memCluster(t, regsim.Config{Instances: 3, Users: clients, PollInterval: 2 * time.Second})
			defer cl.Close()
			r, err := Run(t.Context(), Config{
				memCluster:   cl,
				Clients:      clients,
				RampUp:       2 * time.Second,
				Duration:     26 * time.Second,
				PollInterval: 2 * time.Second,
				InviteRate:   6,
				Outages:      []Outage{{Mode: OutageDown, At: 8 * time.Second, Duration: 6 * time.Second}},
				Naive:        naive,
				DrainTimeout: time.Second,
				Seed:         7,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Outages) != 1 {
				t.Fatalf("outage figures: %+v", r.Outages)
			}
			o = r.Outages[0]
			t.Logf("naive=%v: herd ratio %.2f (peak %.0f/s, steady %.0f/s), green50 %v, green100 %v, outbox peak %d",
				naive, o.HerdRatio, o.PeakRate, o.SteadyRate, o.Green50, o.Green100, o.OutboxPeak)
			if o.Green50 == nil {
				t.Errorf("naive=%v: half the fleet never turned Green again", naive)
			}
			if o.SteadyRate <= 0 || o.HerdRatio <= 0 {
				t.Errorf("naive=%v: no herd figures: %+v", naive, o)
			}
			if o.OutboxPeak == 0 {
				t.Errorf("naive=%v: no invitation was queued during the outage", naive)
			}
		})
		return o
	}
	var spread, naive OutageFigures
	okSpread := t.Run("default", func(t *testing.T) { spread = run(t, false) })
	okNaive := t.Run("naive", func(t *testing.T) { naive = run(t, true) })
	if okSpread && okNaive && naive.HerdRatio <= spread.HerdRatio {
		t.Errorf("herd ratio naive %.2f ≤ default %.2f: jitter and spread make no difference", naive.HerdRatio, spread.HerdRatio)
	}
}

// openFilesUnder counts this process's open file descriptors on files
// under dir (0 where /proc/self/fd does not exist).
func openFilesUnder(dir string) int {
	ents, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n
}

// outageRun is the run of the delivery tests on cl: clients polling every
// 2 s and inviting 12 times a minute for 20 s, an outage of mode from 5 s
// to 10 s, and a drain phase with room for the SDK's recovery spread.
func outageRun(cl *regsim.Cluster, clients int, mode string) Config {
	return Config{
		memCluster:   cl,
		Clients:      clients,
		RampUp:       time.Second,
		Duration:     20 * time.Second,
		PollInterval: 2 * time.Second,
		InviteRate:   12,
		Outages:      []Outage{{Mode: mode, At: 5 * time.Second, Duration: 5 * time.Second}},
		DrainTimeout: 2 * time.Minute,
		Seed:         11,
	}
}

// TestRunDeliversExactlyOnceAcrossOutage: invitations sent while the
// cluster fails wait in the clients' outboxes (or, with hang, in their
// calls) and, once it is back and the drain phase has run, every invitation
// the server accepted has reached its recipient exactly once and nothing is
// left queued: the report's delivery accounting is exact. The drain phase
// has room for the SDK's recovery spread (client.DefaultRecoverySpread, a
// minute), within which each client starts delivering its outbox again.
func TestRunDeliversExactlyOnceAcrossOutage(t *testing.T) {
	for _, mode := range []string{OutageDown, OutageUnavailable, OutageHang, OutageReset, OutageDBDown} {
		t.Run(mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const clients = 60
				cl := memCluster(t, regsim.Config{Instances: 2, Users: clients, PollInterval: 2 * time.Second})
				defer cl.Close()
				r, err := Run(t.Context(), outageRun(cl, clients, mode))
				if err != nil {
					t.Fatal(err)
				}
				d := r.Delivery
				if d == nil || len(r.Outages) != 1 {
					t.Fatalf("delivery %+v, outages %+v", d, r.Outages)
				}
				t.Logf("%s: delivery %+v, drain %s; outbox peak %d", mode, *d, time.Duration(d.DrainPhase), r.Outages[0].OutboxPeak)
				if d.Accepted == 0 {
					t.Fatalf("no invitation accepted: %+v", *d)
				}
				if d.Received != d.Accepted || d.Lost != 0 || d.Duplicated != 0 || d.Queued != 0 || d.Dead != 0 {
					t.Errorf("accepted %d, received %d, lost %d, duplicated %d, queued %d, dead %d: want every accepted invitation received exactly once and none left",
						d.Accepted, d.Received, d.Lost, d.Duplicated, d.Queued, d.Dead)
				}
				// A hang (shorter than the attempt timeout) holds the calls
				// instead; every other mode makes the clients queue.
				if mode != OutageHang && r.Outages[0].OutboxPeak == 0 {
					t.Errorf("no invitation was queued during the outage: the run did not test delivery across it")
				}
			})
		})
	}
}

// TestCheckConfig covers every case of Config.validate: each error is a
// *ConfigError naming the field at fault, wraps ErrConfig, and renames
// every field it mentions through Message.
func TestCheckConfig(t *testing.T) {
	ext := []string{"http://a"}
	down := func(at, d time.Duration, instances ...int) Outage {
		return Outage{Mode: OutageDown, At: at, Duration: d, Instances: instances}
	}
	tests := []struct {
		name    string
		cfg     Config
		field   string
		mention string
	}{
		{"negative clients", Config{Clients: -1}, "Clients", "Clients -1: need at least 1"},
		{"too many clients", Config{Clients: 1_000_001}, "Clients", "at most 1000000"},
		{"negative ramp-up", Config{RampUp: -time.Second}, "RampUp", "RampUp -1s is negative"},
		{"negative duration", Config{Duration: -time.Second}, "Duration", "Duration -1s must be positive"},
		{"ramp longer than run", Config{RampUp: time.Minute, Duration: time.Second}, "RampUp", "RampUp 1m0s is longer than Duration 1s"},
		{"negative poll interval", Config{PollInterval: -time.Second}, "PollInterval", "PollInterval -1s is negative"},
		{"jitter", Config{PollJitter: 1.5}, "PollJitter", "PollJitter 1.5 is outside [0, 1]"},
		{"invite rate", Config{InviteRate: math.Inf(1)}, "InviteRate", "InviteRate +Inf is not a number"},
		{"rate", Config{Rate: -1}, "Rate", "Rate -1 must be"},
		{"negative timeout", Config{Timeout: -time.Second}, "Timeout", "Timeout -1s is negative"},
		{"negative drain timeout", Config{DrainTimeout: -time.Second}, "DrainTimeout", "DrainTimeout -1s is negative"},
		{"instances", Config{Instances: 65}, "Instances", "Instances 65: need 1 to 64"},
		{"transport", Config{Transport: "h2"}, "Transport", `Transport "h2": want "lean" or "net/http"`},
		{"shard", Config{Shard: Shard{Index: 3, Count: 2}}, "Shard", "Shard 3/2"},
		{"url scheme", Config{URLs: []string{"ftp://x"}}, "URLs", `URLs "ftp://x" is not an http(s) URL`},
		{"backup url scheme", Config{URLs: ext, BackupURLs: []string{"b"}}, "BackupURLs", `BackupURLs "b" is not`},
		{"user prefix on the embedded cluster", Config{UserPrefix: "load"}, "UserPrefix", "another prefix needs URLs"},
		{"backup without primary", Config{BackupURLs: []string{"http://b"}}, "BackupURLs", `BackupURLs "http://b" needs URLs`},
		{"outage on a real cluster", Config{URLs: ext, Outages: []Outage{down(0, time.Second)}}, "Outages", "needs the embedded cluster (no URLs)"},
		{"window on the embedded cluster", Config{OutageWindows: []Window{{At: time.Second, Duration: time.Second}}}, "OutageWindows", "(URLs); the embedded cluster switches its own with Outages"},
		{"window of no duration", Config{URLs: ext, OutageWindows: []Window{{At: time.Second}}}, "OutageWindows", "duration positive"},
		{"window past the end", Config{URLs: ext, Duration: time.Minute, OutageWindows: []Window{{At: 50 * time.Second, Duration: 20 * time.Second}}}, "OutageWindows", "after the run (Duration 1m0s)"},
		{"outage past the end", Config{Duration: 10 * time.Second, RampUp: time.Second, Outages: []Outage{down(9*time.Second, 2*time.Second)}}, "Outages", "ends after the run (Duration 10s)"},
		{"outage on a missing instance", Config{Instances: 2, Outages: []Outage{down(0, time.Second, 2)}}, "Outages", "names instance 2, but Instances is 2"},
	}
	fields := reflect.TypeFor[Config]()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckConfig(tt.cfg)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want a *ConfigError", err, err)
			}
			if ce.Field != tt.field {
				t.Errorf("Field %q, want %q", ce.Field, tt.field)
			}
			if _, ok := fields.FieldByName(ce.Field); !ok {
				t.Errorf("Field %q is not a field of Config", ce.Field)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not say %q", err, tt.mention)
			}
			// Renamed, the message names no Config field.
			msg := ce.Message(func(f string) string { return "<" + f + ">" })
			if !strings.HasPrefix(msg, "<"+tt.field+">") {
				t.Errorf("Message %q does not begin with the renamed field", msg)
			}
			for i := range fields.NumField() {
				f := fields.Field(i)
				if f.IsExported() && regexp.MustCompile(`\b`+f.Name+`\b`).MatchString(strings.NewReplacer("<"+f.Name+">", "").Replace(msg)) {
					t.Errorf("Message %q names the field %s unrenamed", msg, f.Name)
				}
			}
		})
	}
	if err := CheckConfig(Config{}); err != nil {
		t.Errorf("the zero Config (all defaults) is rejected: %v", err)
	}
}

// TestRunStopsWhenCanceled: a canceled run still returns the report of what
// ran, and leaves no goroutine behind (goleak in TestMain).
func TestRunStopsWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var r *Report
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, err = Run(ctx, Config{Clients: 5, RampUp: time.Millisecond, Duration: time.Hour, PollInterval: time.Second, Seed: 3})
	}()
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if r == nil || r.Config.Clients != 5 {
		t.Fatalf("no report after cancel: %+v", r)
	}
}

// TestRunTransports runs a short load on the embedded cluster over
// loopback with each transport, a shared pool and a pool per client: no
// call fails, every invitation is delivered, and the report says which
// transport ran. (The figures of a run are not asserted: real time.)
func TestRunTransports(t *testing.T) {
	for _, kind := range []string{TransportLean, TransportNetHTTP} {
		for _, perClient := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/conn-per-client=%v", kind, perClient), func(t *testing.T) {
				r, err := Run(t.Context(), Config{Clients: 8, RampUp: 100 * time.Millisecond, Duration: time.Second,
					PollInterval: 100 * time.Millisecond, InviteRate: 300, DrainTimeout: 5 * time.Second,
					Transport: kind, ConnPerClient: perClient, Seed: 5})
				if err != nil {
					t.Fatal(err)
				}
				if r.Config.Transport != kind || r.Config.ConnPerClient != perClient {
					t.Errorf("report says transport %q, conn per client %v", r.Config.Transport, r.Config.ConnPerClient)
				}
				if polls := r.Commands["getmessages"]; polls == nil || polls.Requests < 8 || r.Errors != 0 {
					t.Errorf("polls %+v, %d errors %v", polls, r.Errors, r.ByClass)
				}
				if d := r.Delivery; d == nil || d.Accepted == 0 || d.Received != d.Accepted {
					t.Errorf("delivery %+v, want every accepted invitation received", d)
				}
				var text strings.Builder
				if err := TextReporter(r)(&text); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(text.String(), "over the "+kind+" transport") {
					t.Errorf("the text report does not name the transport:\n%s", text.String())
				}
			})
		}
	}
}

// TestRunOpenModelCountsOnlyHandedOutSends: against a healthy server every
// send the schedule offered was handed to a client and succeeded: none is
// counted as sent without being handed out (the first one past the end of
// the run), and none fails for want of a client at the very start.
func TestRunOpenModelCountsOnlyHandedOutSends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 1, Users: 10, PollInterval: time.Minute})
		defer cl.Close()
		r, err := Run(t.Context(), Config{memCluster: cl, Clients: 10, RampUp: time.Millisecond,
			Duration: 10 * time.Second, PollInterval: time.Minute, Rate: 40, DrainTimeout: time.Second, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		s, inv := r.Schedule, inviteStats(r)
		if inv == nil {
			t.Fatal("no invite operations recorded")
		}
		if s.Offered != 400 || s.Sent != s.Offered || inv.Requests != s.Offered {
			t.Errorf("schedule offered %d, sent %d; invite operations recorded %d; want 400 of each", s.Offered, s.Sent, inv.Requests)
		}
		if inv.Errors != 0 {
			t.Errorf("invite errors %v against a healthy server", inv.ErrorsByClass)
		}
	})
}

// TestRunDurableOutboxes: with OutboxDir each client queues in a SQLite
// outbox on disk; invitations queued during an outage are delivered
// exactly once after it, the report says the outboxes were durable, and
// the run's files are gone afterwards.
func TestRunDurableOutboxes(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir()) // as /proc/self/fd names it
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		cl := memCluster(t, regsim.Config{Instances: 2, Users: 10, PollInterval: 2 * time.Second})
		defer cl.Close()
		dbs := 0 // the most outbox files seen during the run
		fds := 0 // the most open files under dir during the run
		cfg := outageRun(cl, 10, OutageDown)
		cfg.OutboxDir = dir
		cfg.Progress = func(Live) {
			files, _ := filepath.Glob(filepath.Join(dir, "run-*", "user*.db"))
			dbs = max(dbs, len(files))
			fds = max(fds, openFilesUnder(dir))
		}
		r, err := Run(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Config.DurableOutbox || dbs != 10 {
			t.Errorf("durable outboxes: report says %v, %d outbox files seen during the run, want 10", r.Config.DurableOutbox, dbs)
		}
		// The open-file limit the run asks for counts sqlite.MaxOpenFiles
		// per client: more would fail a large run with EMFILE.
		if fds > 10*sqlite.MaxOpenFiles {
			t.Errorf("%d files open under the outbox directory for 10 clients, over sqlite.MaxOpenFiles (%d) each", fds, sqlite.MaxOpenFiles)
		}
		if len(r.Outages) != 1 || r.Outages[0].OutboxPeak == 0 {
			t.Fatalf("no invitation queued during the outage: %+v", r.Outages)
		}
		d := r.Delivery
		if d == nil || d.Accepted == 0 || d.Received != d.Accepted || d.Lost != 0 || d.Duplicated != 0 || d.Queued != 0 {
			t.Errorf("delivery %+v: want every accepted invitation received once, none queued", d)
		}
	})
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("the run left %d entries in the outbox directory", len(ents))
	}
}
