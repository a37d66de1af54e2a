package loadgen

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// These tests run the whole engine against a real regsim cluster on
// loopback, in real time: what they check are measurements of the SDK
// clients' traffic, so they use wide margins where the machine's speed
// could matter and are skipped with -short.

func startCluster(t *testing.T, cfg regsim.Config) *regsim.Cluster {
	t.Helper()
	c, err := regsim.Start(cfg, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRunMeasuresServerLatency: against a cluster that answers every request
// after 50 ms, the reported p50 of the polls is 50 ms ± 5 ms.
func TestRunMeasuresServerLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time run")
	}
	cl := startCluster(t, regsim.Config{Instances: 2, Users: 20, PollInterval: time.Second})
	for i := range cl.Len() {
		cl.Instance(i).SetFault(regsim.Fault{Latency: 50 * time.Millisecond})
	}
	r, err := Run(context.Background(), Config{
		URLs:         cl.URLs(),
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
	p50 := time.Duration(polls.Latency.P50)
	if p50 < 45*time.Millisecond || p50 > 55*time.Millisecond {
		t.Errorf("getmessages p50 = %s, want 50ms ± 5ms", p50)
	}
	if polls.Errors != 0 {
		t.Errorf("%d poll errors against a healthy cluster", polls.Errors)
	}
	// Round robin over both instances.
	if len(r.Endpoints) != 2 {
		t.Errorf("endpoints %v, want both instances", r.Endpoints)
	}
}

// TestRunOpenModelShowsStall: at a fixed open-model rate against a server
// that stalls every request arriving in a 1 s window every 5 s, the p99 is
// at least 900 ms and every offered send is sent: the stall is not hidden
// by senders that wait for it (coordinated omission).
func TestRunOpenModelShowsStall(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time run")
	}
	cl := startCluster(t, regsim.Config{Instances: 1, Users: 10, PollInterval: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		// Stall [1s, 2s), [6s, 7s), … from the start of the run.
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		defer cl.Instance(0).SetFault(regsim.Fault{})
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
		for {
			cl.Instance(0).SetFault(regsim.Fault{Hang: true})
			if sleepCtx(ctx, time.Second) != nil {
				return
			}
			cl.Instance(0).SetFault(regsim.Fault{})
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	const rate = 40
	r, err := Run(ctx, Config{
		URLs:         cl.URLs(),
		Clients:      10,
		RampUp:       time.Millisecond,
		Duration:     10 * time.Second,
		PollInterval: time.Minute,
		Rate:         rate,
		DrainTimeout: 5 * time.Second,
		Seed:         2,
	})
	if err != nil {
		t.Fatal(err)
	}
	inv := r.Commands["invite"]
	if inv == nil {
		t.Fatalf("no invitations measured; commands %v", r.CommandNames())
	}
	if p99 := time.Duration(inv.Latency.P99); p99 < 900*time.Millisecond {
		t.Errorf("invite p99 = %s, want ≥ 900ms: the stall is hidden", p99)
	}
	s := r.Schedule
	if s.Offered < 9*rate || s.Missed != 0 || inv.Requests != s.Offered {
		t.Errorf("offered %d, sent %d, missed %d, recorded %d: the full offered rate was not sent",
			s.Offered, s.Sent, s.Missed, inv.Requests)
	}
}

// TestRunOutageNaiveHerd: an outage run reports time to Green and the herd
// ratio, and clients with jitter and recovery spread switched off make a
// larger herd than the SDK's defaults.
func TestRunOutageNaiveHerd(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time run")
	}
	run := func(naive bool) OutageFigures {
		r, err := Run(context.Background(), Config{
			Clients:      300,
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
		o := r.Outages[0]
		t.Logf("naive=%v: herd ratio %.2f (peak %.0f/s, steady %.0f/s), green50 %v, outbox peak %d",
			naive, o.HerdRatio, o.PeakRate, o.SteadyRate, o.Green50, o.OutboxPeak)
		if o.Green50 == nil {
			t.Errorf("naive=%v: half the fleet never turned Green again", naive)
		}
		if o.SteadyRate <= 0 || o.HerdRatio <= 0 {
			t.Errorf("naive=%v: no herd figures: %+v", naive, o)
		}
		if o.OutboxPeak == 0 {
			t.Errorf("naive=%v: no invitation was queued during the outage", naive)
		}
		return o
	}
	spread := run(false)
	naive := run(true)
	if naive.HerdRatio <= spread.HerdRatio {
		t.Errorf("herd ratio naive %.2f ≤ default %.2f: jitter and spread make no difference", naive.HerdRatio, spread.HerdRatio)
	}
}

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		mention string
	}{
		{"negative clients", Config{Clients: -1}, "Clients"},
		{"ramp longer than run", Config{RampUp: time.Minute, Duration: time.Second}, "RampUp"},
		{"jitter", Config{PollJitter: 1.5}, "PollJitter"},
		{"rate", Config{Rate: -1}, "Rate"},
		{"url scheme", Config{URLs: []string{"ftp://x"}}, `"ftp://x"`},
		{"backup without primary", Config{BackupURLs: []string{"http://b"}}, "BackupURLs"},
		{"outage on a real cluster", Config{URLs: []string{"http://a"}, Outages: []Outage{{Mode: OutageDown, Duration: time.Second}}}, "embedded cluster"},
		{"outage past the end", Config{Duration: 10 * time.Second, RampUp: time.Second, Outages: []Outage{{Mode: OutageDown, At: 9 * time.Second, Duration: 2 * time.Second}}}, "ends after the run"},
		{"outage on a missing instance", Config{Instances: 2, Outages: []Outage{{Instances: []int{2}, Mode: OutageHang, Duration: time.Second}}}, "instance 2 of 2"},
		{"shard", Config{Shard: Shard{Index: 3, Count: 2}}, "Shard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckConfig(tt.cfg)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not name %q", err, tt.mention)
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
