package client

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/regsim"
)

// herdResult is what one herd run measured, in requests per second.
type herdResult struct {
	steady   float64 // mean 1 s count before the outage
	prePeak  int64   // largest 1 s count before the outage
	postPeak int64   // largest 1 s count after the recovery
	queued   int     // invitations queued during the outage
	stored   int64   // invitations stored in the end
}

func (r herdResult) ratio() float64 { return float64(r.postPeak) / r.steady }

// runHerd runs clients against a 3-instance cluster: all start together (a
// fleet booting at once, the worst case for a herd), poll every 30 s, each
// queues one invitation during a 60 s outage of the whole cluster, and the
// server's rate series is cut into 1 s buckets. Every queueEvery-th client
// queues an invitation during the outage (its recipient then acks it).
func runHerd(t *testing.T, clients, queueEvery int, disableJitter bool) herdResult {
	var res herdResult
	synctest.Test(t, func(t *testing.T) {
		const (
			interval  = 30 * time.Second
			outageAt  = 180 * time.Second
			outageFor = 60 * time.Second
			after     = 6 * time.Minute
		)
		cl, err := regsim.NewCluster(regsim.Config{Instances: 3, Users: clients, PollInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cs := pollingFleet(ctx, t, cl, clients, func(c *Config) {
			c.PollInterval = interval
			c.DisableJitter = disableJitter
		})
		time.Sleep(outageAt)
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{Down: true})
		}
		time.Sleep(outageFor / 2)
		for i, c := range cs {
			if i%queueEvery != 0 {
				continue
			}
			r, err := c.SendInvitation(ctx, Invitation{SpaceID: "s", Recipient: fmt.Sprintf("user%d", (i+1)%clients)})
			if err != nil {
				t.Fatalf("client %d: invitation during the outage: %v", i, err)
			}
			if r.Queued {
				res.queued++
			}
		}
		time.Sleep(outageFor / 2)
		for i := range cl.Len() {
			cl.Instance(i).SetFault(regsim.Fault{})
		}
		time.Sleep(after)
		cancel()
		k := cl.Counters()
		res.stored = k.InvitationsStored
		per := int(time.Second / (time.Duration(k.RateBucketMillis) * time.Millisecond))
		var secs []int64
		for i, n := range k.RateSeries {
			if i/per >= len(secs) {
				secs = append(secs, 0)
			}
			secs[i/per] += n
		}
		// Steady window: after the start-up minute, before the outage.
		from, to := 60, int(outageAt/time.Second)
		var sum int64
		for s := from; s < to && s < len(secs); s++ {
			sum += secs[s]
			res.prePeak = max(res.prePeak, secs[s])
		}
		res.steady = float64(sum) / float64(to-from)
		back := int((outageAt + outageFor) / time.Second)
		for s := back; s < len(secs); s++ {
			res.postPeak = max(res.postPeak, secs[s])
		}
	})
	return res
}

func TestHerd(t *testing.T) {
	if raceDetector {
		// Two fleets of 1,000 clients whose poll timers fire together in a
		// synctest bubble crash the race detector's runtime about one run
		// in five here (ThreadSanitizer CHECK failed / SIGSEGV in its stack
		// depot; golang/go#78156, open): not a race of this code, and the
		// smaller synctest tests of the same loops run under -race. make
		// test runs this test again without -race.
		t.Skip("crashes the race detector's runtime (golang/go#78156); make test runs it without -race")
	}
	// 1,000 clients even with -short: with 200 the steady rate is too
	// small a sample for a 2x bound (2.49x seen), and fake time keeps the
	// test at about two seconds anyway.
	const clients = 1000
	const queueEvery = 5
	on := runHerd(t, clients, queueEvery, false)
	off := runHerd(t, clients, queueEvery, true)
	t.Logf("jitter+spread on : steady %.1f/s, pre-outage peak %d/s, post-recovery peak %d/s, ratio %.2f; queued %d, stored %d",
		on.steady, on.prePeak, on.postPeak, on.ratio(), on.queued, on.stored)
	t.Logf("jitter+spread off: steady %.1f/s, pre-outage peak %d/s, post-recovery peak %d/s, ratio %.2f; queued %d, stored %d",
		off.steady, off.prePeak, off.postPeak, off.ratio(), off.queued, off.stored)
	if on.ratio() > 2 {
		t.Errorf("with jitter and spread the post-recovery peak is %.2f× the steady rate, want ≤ 2×", on.ratio())
	}
	if off.ratio() < 4 {
		t.Errorf("without jitter and spread the post-recovery peak is only %.2f× the steady rate: the test does not show the herd", off.ratio())
	}
	for _, r := range []herdResult{on, off} {
		if want := clients / queueEvery; r.queued != want || r.stored != int64(want) {
			t.Errorf("queued %d and stored %d invitations, want %d each", r.queued, r.stored, want)
		}
	}
}
