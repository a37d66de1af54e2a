package loadgen

import (
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// TestDefaultsScenario runs issue 12's scenario for the SDK's defaults in
// simulated time: 10,000 clients polling every 30 s, every instance down
// for 60 s, and logs herd ratio, time to 99% Green and outbox drain. It
// takes a minute of CPU, so it runs only with LOADGEN_DEFAULTS=1:
//
//	LOADGEN_DEFAULTS=1 go test -run TestDefaultsScenario -v ./loadgen/
func TestDefaultsScenario(t *testing.T) {
	if os.Getenv("LOADGEN_DEFAULTS") == "" {
		t.Skip("set LOADGEN_DEFAULTS=1 to run the 10,000-client defaults scenario")
	}
	clients := 10_000
	// LOADGEN_SPREAD sets the recovery spread (default: the SDK's).
	spread, _ := time.ParseDuration(os.Getenv("LOADGEN_SPREAD"))
	// LOADGEN_SLOWDOWN sets the server-directed slow-down (ParseSlowDown).
	var slow SlowDown
	if v := os.Getenv("LOADGEN_SLOWDOWN"); v != "" {
		var err error
		if slow, err = ParseSlowDown(v); err != nil {
			t.Fatal(err)
		}
	}
	variants := []bool{false, true}
	if os.Getenv("LOADGEN_DEFAULTS_ONLY") != "" {
		variants = variants[:1]
	}
	for _, naive := range variants {
		synctest.Test(t, func(t *testing.T) {
			cl := memCluster(t, regsim.Config{Instances: 3, Users: clients, PollInterval: 30 * time.Second})
			defer cl.Close()
			r, err := Run(t.Context(), Config{
				memCluster: cl, Clients: clients, RampUp: 30 * time.Second, Duration: 300 * time.Second,
				PollInterval: 30 * time.Second, InviteRate: 2, Naive: naive, Seed: 13, RecoverySpread: spread, SlowDown: slow,
				Outages: []Outage{{Mode: OutageDown, At: 90 * time.Second, Duration: 60 * time.Second}},
			})
			if err != nil {
				t.Fatal(err)
			}
			o := r.Outages[0]
			if os.Getenv("LOADGEN_DEFAULTS_SERIES") != "" {
				for i, p := range r.Series.Points {
					if at := r.Series.Time(i).Sub(r.Start); at >= 140*time.Second && at < 260*time.Second && i%3 == 0 {
						t.Logf("%3.0fs att %5d req %5d green %5d outbox %5d", at.Seconds(), p.Attempts, p.Requests, p.Green, p.Outbox)
					}
				}
			}
			t.Logf("naive %v: herd %.2f (peak %.0f/s, steady %.0f/s), green99 %s, green100 %s, drained %s, deliver p99 %s, outbox peak %d",
				naive, o.HerdRatio, o.PeakRate, o.SteadyRate, dOrNever(o.Green99), dOrNever(o.Green100), dOrNever(o.Drain),
				time.Duration(r.Operations[opDeliver].Latency.P99), o.OutboxPeak)
		})
	}
}

// dOrNever is a sampled time as the text report prints it, or "never".
func dOrNever(d *Duration) string {
	if d == nil {
		return "never"
	}
	return fmtSampled(*d)
}
