package sqlite

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/regsim"
)

// BenchmarkEnqueueDurable measures Enqueue on the SQLite outbox, one item
// (200-byte payload) per commit, each commit fsynced (synchronous=FULL).
func BenchmarkEnqueueDurable(b *testing.B) {
	ctx := context.Background()
	ob, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{MaxItems: -1, MaxBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	payload := make([]byte, 200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := ob.Enqueue(ctx, offline.Item{ID: fmt.Sprintf("id-%d", i), Kind: "sendinvitation", Key: "space", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkDrain measures how fast Drain moves items through a send that
// does nothing: the cost of the store (claim and outcome commits), which
// must stay well above what a server and the rate limiter allow.
func BenchmarkDrain(b *testing.B) {
	for _, impl := range []string{"memory", "sqlite"} {
		b.Run(impl, func(b *testing.B) {
			ctx := context.Background()
			var ob offline.Manager
			if impl == "memory" {
				ob = offline.NewMemory(offline.MemoryOptions{MaxItems: -1, MaxBytes: -1})
			} else {
				s, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{MaxItems: -1, MaxBytes: -1})
				if err != nil {
					b.Fatal(err)
				}
				ob = s
			}
			defer ob.Close()
			payload := make([]byte, 200)
			nop := func(context.Context, offline.Item) error { return nil }
			const batch = 100
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				for i := 0; i < batch; i++ {
					n++
					if err := ob.Enqueue(ctx, offline.Item{ID: fmt.Sprintf("id-%d", n), Key: fmt.Sprintf("k%d", n%10), Payload: payload}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				res, err := ob.Drain(ctx, nop)
				if err != nil || res.Sent != batch {
					b.Fatalf("Drain = %+v, %v", res, err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// BenchmarkDrainRegsim drains the SQLite outbox into regsim on loopback
// through a plain net/http client: one sendinvitation round trip per item.
// It shows what bounds a real drain (without a rate limiter): the server
// round trip or the store.
func BenchmarkDrainRegsim(b *testing.B) {
	ctx := context.Background()
	cluster, err := regsim.Start(regsim.Config{Users: 2}, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	base := cluster.URLs()[0]
	send := httpSender(hc, base, login(b, hc, base))
	ob, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{MaxItems: -1, MaxBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	const batch = 100
	n := 0
	for b.Loop() {
		b.StopTimer()
		for range batch {
			n++
			it := crashItem(n)
			if err := ob.Enqueue(ctx, it); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		res, err := ob.Drain(ctx, send)
		if err != nil || res.Sent != batch {
			b.Fatalf("Drain = %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "items/s")
}
