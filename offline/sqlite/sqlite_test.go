package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/outboxtest"
)

func openT(t *testing.T, path string, opts Options) *Outbox {
	t.Helper()
	ob, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	return ob
}

func TestSQLitePersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	clk := outboxtest.NewClock()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob := openT(t, path, Options{Now: clk.Now})
	exp := clk.Now().Add(time.Hour)
	outboxtest.MustEnqueue(t, ob, offline.Item{ID: "a", Kind: "sendcomment", Key: "k", Payload: []byte{0, 1, 2, 255}, Expires: exp},
		outboxtest.NewItem("b", "k"), outboxtest.NewItem("c", ""), offline.Item{ID: "d", Payload: nil})
	r := outboxtest.Recorder{Fail: func(it offline.Item) error {
		if it.ID == "a" {
			return offline.Permanent(errors.New("exception -30300: recipient unknown"))
		}
		return errors.New("down")
	}}
	if _, err := ob.Drain(ctx, r.Send); err == nil || err.Error() != "down" {
		t.Fatalf("Drain: %v", err)
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
		t.Fatalf("WAL left after Close: %v", err)
	}

	ob2 := openT(t, path, Options{Now: clk.Now})
	outboxtest.WantIDs(t, "Pending", outboxtest.PendingIDs(t, ob2), "b", "c", "d")
	outboxtest.WantLen(t, ob2, 3)
	d, err := ob2.Dead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := offline.DeadLetter{Item: offline.Item{ID: "a", Kind: "sendcomment", Key: "k", Payload: []byte{0, 1, 2, 255}, Created: clk.Now(), Expires: exp, Attempts: 1},
		Reason: "exception -30300: recipient unknown", Died: clk.Now()}
	if len(d) != 1 || !sameDead(d[0], want) {
		t.Fatalf("Dead = %+v, want %+v", d, want)
	}
	p, _ := ob2.Pending(ctx)
	if p[0].Attempts != 1 || p[1].Attempts != 0 { // b was tried (down), c not
		t.Fatalf("attempts not kept: %+v", p)
	}
	if len(p[2].Payload) != 0 {
		t.Fatalf("nil payload came back as %#v", p[2].Payload)
	}
}

func sameDead(a, b offline.DeadLetter) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.Key == b.Key && bytes.Equal(a.Payload, b.Payload) &&
		a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires) && a.Attempts == b.Attempts &&
		a.Reason == b.Reason && a.Died.Equal(b.Died)
}

// TestSQLiteAbandonedClaimsAcrossReopen: the claim counter is committed
// before the send, so sends that never finish (the process dies) count
// across restarts, and the MaxClaims-th one makes the item dead.
func TestSQLiteAbandonedClaimsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob := openT(t, path, Options{})
	outboxtest.MustEnqueue(t, ob, outboxtest.NewItem("poison", "k"), outboxtest.NewItem("after", "k"))
	_ = ob.Close()
	for i := range offline.MaxClaims {
		ob := openT(t, path, Options{})
		func() {
			defer func() { _ = recover() }()
			_, _ = ob.Drain(ctx, func(context.Context, offline.Item) error { panic("crash") })
		}()
		// No outcome was recorded; closing stands in for the dead process.
		if err := ob.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
	ob = openT(t, path, Options{})
	r := outboxtest.Recorder{}
	res, err := ob.Drain(ctx, r.Send)
	if err != nil || res != (offline.DrainResult{Sent: 1, Dead: 1}) {
		t.Fatalf("Drain = %+v, %v", res, err)
	}
	outboxtest.WantIDs(t, "Dead", outboxtest.DeadIDs(t, ob), "poison")
	outboxtest.WantIDs(t, "sent", r.IDs(), "after") // a dead letter does not hold back its key
}

func TestSQLiteSenderLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	first := openT(t, path, Options{})
	second := openT(t, path, Options{})
	outboxtest.MustEnqueue(t, first, outboxtest.NewItem("a", ""))
	outboxtest.MustEnqueue(t, second, outboxtest.NewItem("b", "")) // any opener may enqueue

	r := outboxtest.Recorder{}
	if res, err := first.Drain(ctx, r.Send); err != nil || res.Sent != 2 {
		t.Fatalf("first Drain = %+v, %v", res, err)
	}
	outboxtest.MustEnqueue(t, second, outboxtest.NewItem("c", ""))
	if _, err := second.Drain(ctx, r.Send); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Drain: %v, want ErrLocked", err)
	}
	// The second may still read.
	outboxtest.WantIDs(t, "Pending via second", outboxtest.PendingIDs(t, second), "c")
	outboxtest.WantLen(t, second, 1)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := second.Drain(ctx, r.Send); err != nil || res.Sent != 1 {
		t.Fatalf("second Drain after first closed = %+v, %v", res, err)
	}
	outboxtest.WantIDs(t, "sent", r.IDs(), "a", "b", "c")
}

func TestOpenSchemaChecks(t *testing.T) {
	dir := t.TempDir()
	rawDB := func(t *testing.T, name string, stmts ...string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, s := range stmts {
			if _, err := db.Exec(s); err != nil {
				t.Fatal(err)
			}
		}
		return path
	}
	t.Run("NewerVersion", func(t *testing.T) {
		path := filepath.Join(dir, "newer.db")
		ob := openT(t, path, Options{})
		_ = ob.Close()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
		_, err = Open(path, Options{MoveAsideCorrupt: true})
		if err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "newer") || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open of a newer schema: %v", err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatal("a newer file was moved aside")
		}
	})
	t.Run("ForeignApplication", func(t *testing.T) {
		path := rawDB(t, "foreign.db", "PRAGMA application_id = 7", "CREATE TABLE x (y)")
		if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a regfleet outbox") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("ForeignTables", func(t *testing.T) {
		path := rawDB(t, "tables.db", "CREATE TABLE x (y)")
		if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a regfleet outbox") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("TotalsDisagree", func(t *testing.T) {
		path := filepath.Join(dir, "totals.db")
		ob := openT(t, path, Options{})
		outboxtest.MustEnqueue(t, ob, outboxtest.NewItem("a", ""))
		_ = ob.Close()
		db, _ := sql.Open("sqlite", path)
		if _, err := db.Exec("UPDATE stats SET items = 5"); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
		if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "totals") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("Directory", func(t *testing.T) {
		if _, err := Open(dir, Options{}); err == nil || errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open of a directory: %v", err)
		}
	})
	t.Run("EmptyPath", func(t *testing.T) {
		if _, err := Open("", Options{}); err == nil {
			t.Fatal("Open(\"\") succeeded")
		}
	})
	t.Run("OddName", func(t *testing.T) {
		path := filepath.Join(dir, "a?b#c%20d.db")
		ob := openT(t, path, Options{})
		outboxtest.MustEnqueue(t, ob, outboxtest.NewItem("a", ""))
		_ = ob.Close()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the file is not where it was asked: %v", err)
		}
		ob = openT(t, path, Options{})
		outboxtest.WantLen(t, ob, 1)
	})
}

// goodDB writes an outbox with n committed items and returns its bytes.
func goodDB(t testing.TB, dir string, n int) (path string, items []offline.Item) {
	t.Helper()
	path = filepath.Join(dir, "good.db")
	ob, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		// Sizes from a few bytes to several pages, so some items use
		// overflow pages.
		it := offline.Item{ID: fmt.Sprintf("item-%03d", i), Kind: "sendinvitation", Key: fmt.Sprintf("k%d", i%3),
			Payload: bytes.Repeat([]byte{byte('a' + i%26)}, 10+(i*733)%9000)}
		if err := ob.Enqueue(context.Background(), it); err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	return path, items
}

func TestOpenCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	good, _ := goodDB(t, dir, 30)
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	flip := bytes.Clone(goodBytes)
	for i := 4096; i < 4096+12; i++ { // scribble over the b-tree header of page 2
		flip[i] ^= 0x5a
	}
	cases := []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"Empty", nil, "empty file"},
		{"ShortHeader", goodBytes[:50], "shorter than the 100-byte"},
		{"Garbage", bytes.Repeat([]byte("not a database "), 500), "not a SQLite database"},
		{"HalfPage", goodBytes[:2000], "truncated"},
		{"MissingPages", goodBytes[:len(goodBytes)/2/4096*4096], "truncated"},
		{"TornPage", goodBytes[:len(goodBytes)-100], "truncated"},
		{"Scribbled", flip, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			if err := os.WriteFile(path, tc.bytes, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{})
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want a *CorruptError", err)
			}
			if ce.Path != path || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s and %q", err, path, tc.want)
			}

			// Moving aside keeps the bad bytes and starts empty.
			moved, logs := openMovedAside(t, path, "corrupt", Options{MoveAsideCorrupt: true})
			kept, err := os.ReadFile(moved)
			if err != nil {
				t.Fatalf("moved file: %v", err)
			}
			if !bytes.Equal(kept, tc.bytes) {
				t.Fatal("the moved file differs from the corrupt one")
			}
			if !strings.Contains(logs.String(), moved) {
				t.Fatalf("log does not name the moved file: %s", logs.String())
			}
		})
	}
}

// openMovedAside opens path with opts, a test clock and a logger, expects
// Open to have moved the file aside under tag and started an empty outbox
// that works, closes it, and returns the name the file was moved to and the
// log.
func openMovedAside(t *testing.T, path, tag string, opts Options) (moved string, logs *bytes.Buffer) {
	t.Helper()
	clk := outboxtest.NewClock()
	logs = new(bytes.Buffer)
	opts.Now, opts.Logger = clk.Now, outboxtest.NewLogger(logs)
	ob, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open of a file to move aside (%s): %v", tag, err)
	}
	defer ob.Close()
	outboxtest.WantLen(t, ob, 0)
	outboxtest.MustEnqueue(t, ob, outboxtest.NewItem("fresh", ""))
	return asideName(path, tag, clk.Now()), logs
}

// TestMoveAsideRefusedWhileLocked: a corrupt file is never moved away from
// under a process that holds the sender lock.
func TestMoveAsideRefusedWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	l := &senderLock{path: path + ".lock"}
	if err := l.acquire(); err != nil {
		t.Fatal(err)
	}
	defer l.release()
	if err := os.WriteFile(path, []byte("garbage garbage garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{MoveAsideCorrupt: true})
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrLocked) {
		t.Fatalf("Open: %v, want ErrCorrupt and ErrLocked", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal("the file was moved")
	}
}

// TestDamagedPayloadIsNotSent: SQLite does not checksum page content; the
// outbox does, per item, and never sends an item whose bytes changed.
func TestDamagedPayloadIsNotSent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	ob := openT(t, path, Options{})
	marker := []byte("PAYLOAD-TO-DAMAGE-0123456789")
	outboxtest.MustEnqueue(t, ob, offline.Item{ID: "victim", Key: "k", Payload: marker}, outboxtest.NewItem("later", "k"), outboxtest.NewItem("other", ""))
	_ = ob.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, marker)
	if i < 0 {
		t.Fatal("payload not found in the file")
	}
	b[i+3] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ob = openT(t, path, Options{})
	r := outboxtest.Recorder{}
	res, err := ob.Drain(ctx, r.Send)
	if err != nil || res != (offline.DrainResult{Sent: 2, Dead: 1}) {
		t.Fatalf("Drain = %+v, %v", res, err)
	}
	outboxtest.WantIDs(t, "sent", r.IDs(), "later", "other")
	d, _ := ob.Dead(ctx)
	if len(d) != 1 || d[0].ID != "victim" || d[0].Reason != offline.ReasonDamaged {
		t.Fatalf("Dead = %+v", d)
	}
}

func TestTimeEncoding(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want time.Time
	}{
		{time.Time{}, time.Time{}},
		{time.Unix(0, 0), time.Unix(0, 1)}, // 0 means "none": the epoch moves by 1 ns
		{time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
		{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, math.MaxInt64)},
		{time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, math.MinInt64+1)},
	} {
		if got := fromNanos(nanos(tc.in)); !got.Equal(tc.want) {
			t.Errorf("round trip of %v = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestOpenBesideWriteLock: opening a current file takes no write lock, so
// Open does not wait (and time out) behind a transaction that holds it.
// Issue 10, item 19.
func TestOpenBesideWriteLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob := openT(t, path, Options{})
	outboxtest.MustEnqueue(t, ob, outboxtest.NewItem("a", ""))
	_ = ob.Close()

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")

	ob, err = Open(path, Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open beside a held write lock: %v", err)
	}
	defer ob.Close()
	outboxtest.WantLen(t, ob, 1)
}

// TestOpenTidiesCrashLeftovers: Issue 10, item 19. A kill during creation
// leaves path.init-* files, which a later Open removes once no creation in
// progress can own them (a minute old); a -wal left without its database
// no longer makes every Open fail: it is moved aside and a fresh outbox is
// created.
func TestOpenTidiesCrashLeftovers(t *testing.T) {
	t.Run("StaleInitFiles", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "outbox.db")
		old := time.Now().Add(-time.Hour)
		write := func(name string, mod time.Time) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mod, mod); err != nil {
				t.Fatal(err)
			}
			return p
		}
		stale := []string{write("outbox.db.init-123", old), write("outbox.db.init-123-wal", old), write("outbox.db.init-123-journal", old)}
		fresh := write("outbox.db.init-456", time.Now()) // a creation in progress
		other := write("other.db.init-789", old)         // another outbox's
		var logs bytes.Buffer
		ob := openT(t, path, Options{Logger: outboxtest.NewLogger(&logs)})
		outboxtest.MustEnqueue(t, ob, outboxtest.NewItem("a", ""))
		for _, p := range stale {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stale %s still there (%v)", filepath.Base(p), err)
			}
			if !strings.Contains(logs.String(), p) {
				t.Errorf("log does not name the removed %s:\n%s", p, logs.String())
			}
		}
		for _, p := range []string{fresh, other} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s removed: %v", filepath.Base(p), err)
			}
		}
	})
	t.Run("OrphanWAL", func(t *testing.T) {
		_, wal, _ := walSnapshot(t, 5)
		dir := t.TempDir()
		path := filepath.Join(dir, "outbox.db")
		if err := os.WriteFile(path+"-wal", wal, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+"-shm", make([]byte, 32768), 0o600); err != nil {
			t.Fatal(err)
		}
		moved, logs := openMovedAside(t, path, "orphan", Options{})
		kept, err := os.ReadFile(moved + "-wal")
		if err != nil || !bytes.Equal(kept, wal) {
			t.Fatalf("orphan -wal not kept at %s-wal: %v", moved, err)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), moved) {
			t.Fatalf("no warning naming %s:\n%s", moved, logs.String())
		}
		ob := openT(t, path, Options{}) // and the next Open too
		outboxtest.WantLen(t, ob, 1)
	})
}
