package sqlite

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/outboxtest"
)

// tornOffsets returns the interesting cut points of a file of size n plus
// count seeded random ones.
func tornOffsets(rng *rand.Rand, n int64, count int, fixed ...int64) []int64 {
	offs := append([]int64{0, 1, 31, 32, 99, 100, n - 1, n}, fixed...)
	for range count {
		offs = append(offs, rng.Int64N(n+1))
	}
	slices.Sort(offs)
	offs = slices.Compact(offs)
	return slices.DeleteFunc(offs, func(o int64) bool { return o < 0 || o > n })
}

// checkRecovered opens path and requires either a clear corruption report
// or the items of a prefix of want, each intact. It returns how many items
// came back (-1 for a corruption report).
func checkRecovered(t *testing.T, path string, want []offline.Item) int {
	t.Helper()
	ob, err := Open(path, Options{})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open: %v; want a corruption report naming %s", err, path)
		}
		return -1
	}
	defer ob.Close()
	got, err := ob.Pending(context.Background())
	if err != nil {
		t.Fatalf("Pending after a successful Open: %v", err)
	}
	if len(got) > len(want) {
		t.Fatalf("%d items recovered, only %d were written", len(got), len(want))
	}
	for i, it := range got {
		w := want[i]
		if it.ID != w.ID || it.Kind != w.Kind || it.Key != w.Key || !bytes.Equal(it.Payload, w.Payload) {
			t.Fatalf("recovered item %d is %s (%d bytes), want %s (%d bytes)", i, it.ID, len(it.Payload), w.ID, len(w.Payload))
		}
	}
	// The recovered outbox works.
	r := outboxtest.Recorder{}
	res, err := ob.Drain(context.Background(), r.Send)
	if err != nil || res.Sent != len(got) || res.Dead != 0 {
		t.Fatalf("Drain after recovery = %+v, %v; want %d sent", res, err, len(got))
	}
	return len(got)
}

// TestTornDatabaseFile cuts a checkpointed database file (no WAL) at seeded
// random offsets: Open must report the damage, or recover every item.
func TestTornDatabaseFile(t *testing.T) {
	good, items := goodDB(t, t.TempDir(), 40)
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(b))
	rng := rand.New(rand.NewPCG(4, 2))
	for _, off := range tornOffsets(rng, n, 40, 4096, 8192, n-4096, n-4095, n/2) {
		path := filepath.Join(t.TempDir(), "outbox.db")
		if err := os.WriteFile(path, b[:off], 0o600); err != nil {
			t.Fatal(err)
		}
		got := checkRecovered(t, path, items)
		if got >= 0 && got != len(items) {
			t.Fatalf("cut at %d of %d: Open succeeded with %d of %d items and no corruption report", off, n, got, len(items))
		}
		if off == n && got != len(items) {
			t.Fatalf("the uncut file did not open: %d", got)
		}
	}
}

// walSnapshot writes n items, one per commit, and copies the database and
// its WAL while the outbox is open, as a crash would leave them.
func walSnapshot(t *testing.T, n int) (db, wal []byte, items []offline.Item) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob := openT(t, path, Options{})
	for i := range n {
		it := offline.Item{ID: "w" + string(rune('A'+i%26)) + string(rune('a'+i/26)), Kind: "sendcomment", Key: "k",
			Payload: bytes.Repeat([]byte{byte(i)}, 50+(i*977)%5000)}
		outboxtest.MustEnqueue(t, ob, it)
		items = append(items, it)
	}
	var err error
	if db, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if wal, err = os.ReadFile(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	return db, wal, items
}

// TestTornWAL cuts or scribbles over the WAL of a crashed outbox at seeded
// random offsets. SQLite replays the WAL up to the last complete, valid
// commit frame, so Open recovers exactly the items of a prefix of the
// commits, each intact, or reports corruption; never a partial commit, a
// damaged item or a panic. A commit whose frames were cut away is
// indistinguishable from one that never happened (see the report).
func TestTornWAL(t *testing.T) {
	db, wal, items := walSnapshot(t, 24)
	n := int64(len(wal))
	rng := rand.New(rand.NewPCG(7, 3))
	frame := int64(4096 + 24)
	counts := map[string]int{}
	for _, off := range tornOffsets(rng, n, 24, 32+frame, 32+2*frame, n-frame, n-1) {
		path := filepath.Join(t.TempDir(), "outbox.db")
		if err := os.WriteFile(path, db, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+"-wal", wal[:off], 0o600); err != nil {
			t.Fatal(err)
		}
		got := checkRecovered(t, path, items)
		if off == n && got != len(items) {
			t.Fatalf("the uncut WAL recovered %d of %d items", got, len(items))
		}
		switch {
		case got < 0:
			counts["corrupt"]++
		case got == len(items):
			counts["all"]++
		default:
			counts["prefix"]++
		}
	}
	for range 12 {
		off := 32 + rng.Int64N(n-32)
		w := bytes.Clone(wal)
		w[off] ^= byte(1 + rng.IntN(255))
		path := filepath.Join(t.TempDir(), "outbox.db")
		if err := os.WriteFile(path, db, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+"-wal", w, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := checkRecovered(t, path, items); got < 0 {
			counts["flip-corrupt"]++
		} else {
			counts["flip-prefix"]++
		}
	}
	t.Logf("outcomes: %v", counts)
}
