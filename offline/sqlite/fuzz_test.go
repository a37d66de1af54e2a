package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/outboxtest"
)

// FuzzOpen writes arbitrary bytes as the database file (and, when wal is
// not empty, as its WAL) and opens it: Open must not panic, must name the
// file in any error, and an outbox it accepts must work. The committed seed
// corpus (testdata/fuzz/FuzzOpen) holds valid outboxes, with and without a
// WAL, and damaged ones.
func FuzzOpen(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add([]byte(sqliteMagic), []byte{})
	f.Fuzz(func(t *testing.T, db, wal []byte) {
		if len(db) > 1<<20 || len(wal) > 1<<20 {
			return
		}
		path := filepath.Join(t.TempDir(), "outbox.db")
		if err := os.WriteFile(path, db, 0o600); err != nil {
			t.Fatal(err)
		}
		if len(wal) > 0 {
			if err := os.WriteFile(path+"-wal", wal, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		ob, err := Open(path, Options{})
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		defer ob.Close()
		ctx := context.Background()
		if _, err := ob.Len(ctx); err != nil {
			t.Fatalf("Len: %v", err)
		}
		if _, err := ob.Pending(ctx); err != nil {
			t.Fatalf("Pending: %v", err)
		}
		if _, err := ob.Dead(ctx); err != nil {
			t.Fatalf("Dead: %v", err)
		}
		if _, err := ob.Drain(ctx, func(context.Context, offline.Item) error { return nil }); err != nil {
			t.Fatalf("Drain: %v", err)
		}
		if err := ob.Enqueue(ctx, outboxtest.NewItem("fuzz-new", "k")); err != nil && !errors.Is(err, offline.ErrFull) && !errors.Is(err, offline.ErrDuplicate) {
			t.Fatalf("Enqueue: %v", err)
		}
	})
}

// FuzzCheckHeader checks the pre-open header decoder on its own (it is
// cheap, so it explores far more inputs than FuzzOpen).
func FuzzCheckHeader(f *testing.F) {
	hdr := make([]byte, headerSize)
	copy(hdr, sqliteMagic)
	hdr[16], hdr[17] = 0x10, 0x00 // 4096
	f.Add(hdr, int64(8192), false)
	f.Add(hdr[:50], int64(50), false)
	f.Add([]byte{}, int64(0), true)
	f.Fuzz(func(t *testing.T, b []byte, size int64, walFrames bool) {
		if len(b) > headerSize {
			b = b[:headerSize]
		}
		problem := checkHeader(b, size, walFrames)
		if problem == "" && (len(b) < headerSize || size < headerSize || string(b[:len(sqliteMagic)]) != sqliteMagic) {
			t.Fatalf("accepted a short or foreign header (%d bytes, size %d)", len(b), size)
		}
	})
}
