package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regfleet/regfleet/offline"
	msqlite "modernc.org/sqlite"
)

// Outbox is the durable outbox: one SQLite database file (through
// modernc.org/sqlite, pure Go) in WAL mode with synchronous=FULL (and
// fullfsync on macOS), so an item that Enqueue accepted survives a crash, a
// kill or a power loss. Enqueue returns once the item's transaction is
// committed (fsynced). Times are stored with nanosecond precision and
// clamped to the years 1678 to 2262.
//
// Any number of processes may open the same file to enqueue and to read;
// only one at a time may Drain it. The first Drain takes an OS file lock on
// path+".lock" and keeps it until Close; a Drain in another process (or
// through another Outbox value in this process) then fails with an error
// wrapping ErrLocked and sends nothing. The lock uses flock(2) on Linux,
// macOS and the BSDs and LockFileEx on Windows; on other systems it is not
// enforced and the application must run one sender per file itself.
//
// Before each send the drain commits the item's claim counter; an item that
// was being sent each of offline.MaxClaims times the process died becomes a
// dead letter.
//
// Durability: the commits of Enqueue, Retry and Discard are fsynced before
// they return. The drain's own commits (claims and outcomes) survive a crash
// or kill of the process at once but reach the disk with the next fsync, not
// each on its own; after a power cut an item may be sent again (the server
// recognises its requestid) or one crash fewer may count toward MaxClaims.
// This doubles the drain rate.
//
// Every item carries a CRC-32C of its fields; an item whose stored bytes no
// longer match is never sent but becomes a dead letter
// (offline.ReasonDamaged). Open runs PRAGMA integrity_check and compares the
// schema with its own, so a damaged file is reported at Open rather than on
// first use; damage found later surfaces as a *CorruptError from the failing
// call.
//
// Subscribe reports the events of this Outbox value, not those made by
// other processes on the same file. Close stops a running Drain (its send
// sees a cancelled context and the item stays pending), closes the
// database, releases the sender lock and closes every subscription; the
// items stay stored.
//
// Create it with Open. It is safe for concurrent use; one Drain runs at a
// time (a second one waits). Its methods are those of the
// *offline.StoreOutbox it embeds, which runs the offline package's one
// drain algorithm on the file.
type Outbox struct {
	*offline.StoreOutbox
	path string
}

var _ offline.Manager = (*Outbox)(nil)

// SchemaVersion is the schema version (PRAGMA user_version) this package
// writes. Open migrates older files and refuses newer ones.
const SchemaVersion = 1

// applicationID marks the file as a regfleet outbox (PRAGMA application_id,
// "RGOB").
const applicationID = 0x52474f42

// migrations[i] brings a file from schema version i to i+1.
var migrations = [...]string{
	`CREATE TABLE items (
		seq      INTEGER PRIMARY KEY AUTOINCREMENT,
		id       TEXT    NOT NULL UNIQUE,
		kind     TEXT    NOT NULL,
		okey     TEXT    NOT NULL,
		payload  BLOB    NOT NULL,
		created  INTEGER NOT NULL,
		expires  INTEGER NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		claims   INTEGER NOT NULL DEFAULT 0,
		size     INTEGER NOT NULL,
		dead     INTEGER NOT NULL DEFAULT 0,
		reason   TEXT    NOT NULL DEFAULT '',
		died     INTEGER NOT NULL DEFAULT 0,
		sum      INTEGER NOT NULL
	);
	CREATE INDEX items_okey ON items (okey, seq);
	CREATE TABLE stats (
		one     INTEGER PRIMARY KEY CHECK (one = 1),
		items   INTEGER NOT NULL,
		bytes   INTEGER NOT NULL,
		pending INTEGER NOT NULL
	);
	INSERT INTO stats VALUES (1, 0, 0, 0);
	CREATE TRIGGER items_insert AFTER INSERT ON items BEGIN
		UPDATE stats SET items = items + 1, bytes = bytes + NEW.size, pending = pending + (NEW.dead = 0);
	END;
	CREATE TRIGGER items_delete AFTER DELETE ON items BEGIN
		UPDATE stats SET items = items - 1, bytes = bytes - OLD.size, pending = pending - (OLD.dead = 0);
	END;
	CREATE TRIGGER items_dead AFTER UPDATE OF dead ON items BEGIN
		UPDATE stats SET pending = pending - (OLD.dead = 0) + (NEW.dead = 0);
	END;
	PRAGMA application_id = ` + strconv.Itoa(applicationID) + `;`,
}

// Open opens the outbox in the SQLite file at path, creating it (and
// migrating an older schema) as needed.
//
// A damaged, truncated or foreign file makes Open fail with a *CorruptError
// (errors.Is(err, ErrCorrupt)) that names the file and what is wrong, unless
// opts.MoveAsideCorrupt is set: then the file and its -wal and -shm
// companions are renamed to path+".corrupt-<timestamp>" and Open starts
// with an empty outbox. A file written by a newer schema version is an
// error, never moved aside.
//
// Open also tidies what a crash leaves: a -wal or -shm file whose database
// does not exist is moved aside to path+".orphan-<timestamp>" (with a
// warning on opts.Logger) and a fresh outbox is created, and temporary
// files of an interrupted creation of this path (path+".init-*") older than
// a minute are removed.
func Open(path string, opts Options) (*Outbox, error) {
	if path == "" {
		return nil, errors.New("offline: Open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("offline: Open %s: %w", path, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	lock := &senderLock{path: abs + ".lock"}

	removeStaleInit(abs, now(), log)
	if orphaned(abs) {
		// A -wal (or -shm) without its database would be replayed into the
		// new one and make it corrupt. Like a corrupt file, it is kept for
		// support and never moved from under a process that drains.
		if err := lock.acquire(); err != nil {
			return nil, fmt.Errorf("offline: open outbox %s: a -wal or -shm file without the database: %w", abs, err)
		}
		moved, err := moveAside(abs, "orphan", now())
		if err != nil {
			_ = lock.release()
			return nil, err
		}
		log.Warn("offline: -wal or -shm file without its database moved aside; starting empty", "path", abs, "moved_to", moved)
	}
	st, err := openSQLStore(abs, busy)
	var ce *CorruptError
	if errors.As(err, &ce) && opts.MoveAsideCorrupt {
		// Never move a file away from under a process that drains it.
		if lerr := lock.acquire(); lerr != nil {
			return nil, errors.Join(err, lerr)
		}
		moved, merr := moveAside(abs, "corrupt", now())
		if merr != nil {
			_ = lock.release()
			return nil, errors.Join(err, merr)
		}
		log.Warn("offline: corrupt outbox file moved aside; starting empty", "path", abs, "moved_to", moved, "problem", ce.Detail)
		st, err = openSQLStore(abs, busy)
	}
	if err != nil {
		_ = lock.release()
		return nil, err
	}
	st.lock = lock
	ob := offline.NewStoreOutbox(st, offline.MemoryOptions{
		MaxItemBytes: opts.MaxItemBytes, MaxItems: opts.MaxItems, MaxBytes: opts.MaxBytes, Now: now, Logger: log,
	})
	return &Outbox{StoreOutbox: ob, path: abs}, nil
}

// Path returns the absolute path of the database file.
func (s *Outbox) Path() string { return s.path }

// sqlStore implements offline.Store in a SQLite database.
//
// Two connection pools share the file. db (synchronous=FULL) serves Enqueue,
// Retry, Discard and the reads: a commit there is fsynced before it returns.
// drain (one connection, synchronous=NORMAL) records the drain's claims and
// outcomes: those commits are atomic and survive a crash or kill of the
// process at once, but reach the disk with the next fsync (the next Enqueue
// or checkpoint) rather than each on its own. Losing one to a power cut is
// harmless: a lost "delivered" means the item is sent again and the server
// recognises its requestid; a lost claim means one crash fewer counted
// toward MaxClaims. This doubles the drain rate.
type sqlStore struct {
	db    *sql.DB
	drain *sql.DB
	path  string
	lock  *senderLock // nil for the private databases of create and checkSchema
}

func dsn(path string, busy time.Duration, synchronous string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		q.Add("_pragma", "fullfsync(1)")
		q.Add("_pragma", "checkpoint_fullfsync(1)")
	}
	q.Set("_txlock", "immediate")
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	return "file:" + esc + "?" + q.Encode()
}

// sqliteCode returns the primary result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var se *msqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

// SQLite primary result codes that mean a damaged or foreign file.
const (
	codeCorrupt = 11 // SQLITE_CORRUPT
	codeNotADB  = 26 // SQLITE_NOTADB
)

// classify turns an error met while opening path into a *CorruptError when
// it means the file is damaged, and otherwise names the file.
func classify(path, what string, err error) error {
	switch sqliteCode(err) {
	case codeCorrupt, codeNotADB:
		return &CorruptError{Path: path, Detail: what + ": " + err.Error(), Cause: err}
	}
	return fmt.Errorf("offline: open outbox %s: %s: %w", path, what, err)
}

// openSQLStore opens (creating if needed) and checks the database at path.
func openSQLStore(path string, busy time.Duration) (*sqlStore, error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := create(path, busy); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open("sqlite", dsn(path, busy, "FULL"))
	if err != nil {
		return nil, fmt.Errorf("offline: open outbox %s: %w", path, err)
	}
	db.SetMaxOpenConns(poolConns)
	db.SetMaxIdleConns(poolConns)
	st := &sqlStore{db: db, path: path}
	if err := st.check(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := st.migrate(); err != nil {
		_ = db.Close()
		return nil, err
	}
	st.drain, err = sql.Open("sqlite", dsn(path, busy, "NORMAL"))
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("offline: open outbox %s: %w", path, err)
	}
	st.drain.SetMaxOpenConns(1)
	st.drain.SetMaxIdleConns(1)
	return st, nil
}

// poolConns is the size of an open outbox's connection pool (readers and
// enqueues); its drain has one connection of its own.
const poolConns = 4

// MaxOpenFiles is the most file descriptors an open SQLite outbox holds:
// the database and WAL files of each of its connections (poolConns and
// the drain's), its shared-memory file and its lock file. A process that
// keeps many outboxes open sizes its open-file limit with it.
const MaxOpenFiles = 2*(poolConns+1) + 2

// create makes a new database at path atomically: the schema is written to
// a temporary file that is linked into place only when complete, so a file
// at path is never an empty or half-initialised database (which lets Open
// report an empty or short file as truncated). A kill during creation
// leaves the temporary files; a later Open removes them (removeStaleInit).
func create(path string, busy time.Duration) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".init-*")
	if err != nil {
		return fmt.Errorf("offline: create outbox %s: %w", path, err)
	}
	tmp := f.Name()
	_ = f.Close()
	defer func() {
		for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"} {
			_ = os.Remove(p)
		}
	}()
	db, err := sql.Open("sqlite", dsn(tmp, busy, "FULL"))
	if err != nil {
		return fmt.Errorf("offline: create outbox %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	st := &sqlStore{db: db, path: tmp}
	err = st.migrate()
	if cerr := db.Close(); err == nil {
		err = cerr // the last close checkpoints the WAL into the file
	}
	if err != nil {
		return fmt.Errorf("offline: create outbox %s: %w", path, err)
	}
	if _, err := os.Stat(tmp + "-wal"); err == nil {
		return fmt.Errorf("offline: create outbox %s: WAL not checkpointed on close", path)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("offline: create outbox %s: %w", path, err)
	}
	// Link, unlike rename, never replaces a file another process created
	// meanwhile; that one wins and is opened instead.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("offline: create outbox %s: %w", path, err)
	}
	_ = syncFile(dir) // best effort: not every system can fsync a directory
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// check reads the whole file: the schema (a foreign or future file is
// refused), PRAGMA integrity_check, the schema's text and the totals.
// integrity_check rather than quick_check: it also proves the indexes match
// the table (fuzzing found files that pass quick_check and fail on the first
// DELETE), for about 25% more time (0.1 s for 60 MB here).
func (s *sqlStore) check() error {
	ctx := context.Background()
	var appID, version int64
	if err := s.db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return classify(s.path, "read header", err)
	}
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return classify(s.path, "read schema version", err)
	}
	if appID != applicationID && (appID != 0 || version != 0) {
		return &CorruptError{Path: s.path, Detail: fmt.Sprintf("not a regfleet outbox (application_id %#x, user_version %d)", appID, version)}
	}
	if version > SchemaVersion {
		return fmt.Errorf("offline: open outbox %s: schema version %d is newer than this program's %d", s.path, version, SchemaVersion)
	}
	if version == 0 {
		var tables int
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
			return classify(s.path, "read schema", err)
		}
		if tables > 0 {
			return &CorruptError{Path: s.path, Detail: fmt.Sprintf("not a regfleet outbox (%d schema objects but no schema version)", tables)}
		}
	}
	rows, err := s.db.QueryContext(ctx, "PRAGMA integrity_check(5)")
	if err != nil {
		return classify(s.path, "integrity_check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return classify(s.path, "integrity_check", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return classify(s.path, "integrity_check", err)
	}
	if len(problems) > 0 {
		return &CorruptError{Path: s.path, Detail: "integrity_check: " + strings.Join(problems, "; ")}
	}
	if version == SchemaVersion {
		if err := s.checkSchema(ctx); err != nil {
			return err
		}
		return s.checkStats(ctx)
	}
	return nil
}

// schemaObjects lists the schema of db: type, name and SQL text of every
// table, index and trigger.
func schemaObjects(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT type, name, coalesce(sql, '') FROM sqlite_schema`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var typ, name, text string
		if err := rows.Scan(&typ, &name, &text); err != nil {
			return nil, err
		}
		out[typ+" "+name] = text
	}
	return out, rows.Err()
}

// checkSchema compares the file's schema with the one the migrations build
// (in a private in-memory database): quick_check verifies the b-trees, not
// the text of the schema, and a damaged trigger or column would only show
// on the first write.
func (s *sqlStore) checkSchema(ctx context.Context) error {
	mem, err := sql.Open("sqlite", "file:schema?mode=memory")
	if err != nil {
		return err
	}
	defer mem.Close()
	mem.SetMaxOpenConns(1)
	ref := &sqlStore{db: mem, path: "(reference schema)"}
	if err := ref.migrate(); err != nil {
		return err
	}
	want, err := schemaObjects(ctx, mem)
	if err != nil {
		return err
	}
	got, err := schemaObjects(ctx, s.db)
	if err != nil {
		return classify(s.path, "read schema", err)
	}
	for name, text := range want {
		g, ok := got[name]
		if !ok {
			return &CorruptError{Path: s.path, Detail: "schema: " + name + " is missing"}
		}
		if g != text {
			return &CorruptError{Path: s.path, Detail: "schema: " + name + " differs from what this program writes"}
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			return &CorruptError{Path: s.path, Detail: "schema: unexpected " + name}
		}
	}
	return nil
}

// checkStats compares the running totals with the rows, which catches a
// file whose pages are intact but whose content is not what this package
// wrote. One statement reads both, so both come from one snapshot: another
// process may be enqueueing meanwhile, and totals read a commit apart from
// the rows would disagree on a healthy file.
func (s *sqlStore) checkStats(ctx context.Context) error {
	var n, b, p, sn, sb, sp int64
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM items), (SELECT coalesce(sum(size), 0) FROM items), (SELECT coalesce(sum(dead = 0), 0) FROM items),
		items, bytes, pending
		FROM stats WHERE one = 1`).Scan(&n, &b, &p, &sn, &sb, &sp)
	if err != nil {
		return classify(s.path, "read items and totals", err)
	}
	if n != sn || b != sb || p != sp {
		return &CorruptError{Path: s.path, Detail: fmt.Sprintf("totals (%d items, %d bytes, %d pending) disagree with the rows (%d, %d, %d)", sn, sb, sp, n, b, p)}
	}
	return nil
}

// migrate brings the schema to SchemaVersion in one transaction. It reads
// the version first and takes the write lock only when a migration is due,
// so that opening a current file never waits behind a busy writer.
func (s *sqlStore) migrate() error {
	ctx := context.Background()
	var current int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return classify(s.path, "read schema version", err)
	}
	if current == SchemaVersion {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		return classify(s.path, "begin migration", err)
	}
	defer func() { _ = tx.Rollback() }()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return classify(s.path, "read schema version", err)
	}
	if version > SchemaVersion {
		return fmt.Errorf("offline: open outbox %s: schema version %d is newer than this program's %d", s.path, version, SchemaVersion)
	}
	if version == SchemaVersion {
		return nil
	}
	for v := version; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return classify(s.path, fmt.Sprintf("migrate schema %d to %d", v, v+1), err)
		}
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(SchemaVersion)); err != nil {
		return classify(s.path, "set schema version", err)
	}
	if err := tx.Commit(); err != nil {
		return classify(s.path, "commit migration", err)
	}
	return nil
}

// nanos encodes t for storage: 0 for the zero time, Unix nanoseconds
// otherwise (clamped to what int64 holds, never 0).
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	switch {
	case t.Before(time.Unix(0, math.MinInt64+1)):
		return math.MinInt64 + 1
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	if n := t.UnixNano(); n != 0 {
		return n
	}
	return 1
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (s *sqlStore) Insert(ctx context.Context, it *offline.Item, size int64, admit func(count, bytes int64) error) (err error) {
	defer s.mapErr(&err)
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the limit check and the insert are atomic
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM items WHERE id = ?`, it.ID).Scan(&exists); err != nil {
		return err
	}
	if exists > 0 {
		return fmt.Errorf("%w: %s", offline.ErrDuplicate, it.ID)
	}
	var count, total int64
	if err := tx.QueryRowContext(ctx, `SELECT items, bytes FROM stats WHERE one = 1`).Scan(&count, &total); err != nil {
		return err
	}
	if err := admit(count, total); err != nil {
		return err
	}
	payload := it.Payload
	if payload == nil {
		payload = []byte{}
	}
	created, expires := nanos(it.Created), nanos(it.Expires)
	_, err = tx.ExecContext(ctx, `INSERT INTO items (id, kind, okey, payload, created, expires, size, sum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		it.ID, it.Kind, it.Key, payload, created, expires, size, itemSum(it.ID, it.Kind, it.Key, payload, created, expires))
	if err != nil {
		return err
	}
	return tx.Commit()
}

const itemColumns = `seq, id, kind, okey, payload, created, expires, attempts, claims, sum`

// itemSum is the CRC-32C of an item's stored fields. SQLite checks the
// structure of its pages but not their content, so a damaged payload would
// otherwise go out unnoticed.
func itemSum(id, kind, key string, payload []byte, created, expires int64) int64 {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	var n [8]byte
	for _, f := range [...][]byte{[]byte(id), []byte(kind), []byte(key), payload} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	binary.BigEndian.PutUint64(n[:], uint64(created))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(expires))
	h.Write(n[:])
	return int64(h.Sum32())
}

func scanRecord(sc interface{ Scan(...any) error }) (offline.Record, error) {
	var r offline.Record
	var created, expires, sum int64
	err := sc.Scan(&r.Seq, &r.Item.ID, &r.Item.Kind, &r.Item.Key, &r.Item.Payload, &created, &expires, &r.Item.Attempts, &r.Claims, &sum)
	if err != nil {
		return offline.Record{}, err
	}
	r.Item.Created, r.Item.Expires = fromNanos(created), fromNanos(expires)
	r.Damaged = sum != itemSum(r.Item.ID, r.Item.Kind, r.Item.Key, r.Item.Payload, created, expires)
	return r, nil
}

func (s *sqlStore) Next(ctx context.Context, after int64) (r offline.Record, ok bool, err error) {
	defer s.mapErr(&err)
	row := s.db.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM items AS i
		WHERE dead = 0 AND seq > ?
		  AND (okey = '' OR NOT EXISTS (SELECT 1 FROM items AS j WHERE j.okey = i.okey AND j.seq < i.seq AND j.dead = 0))
		ORDER BY seq LIMIT 1`, after)
	r, err = scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return offline.Record{}, false, nil
	}
	if err != nil {
		return offline.Record{}, false, err
	}
	return r, true, nil
}

func (s *sqlStore) Expired(ctx context.Context, now time.Time) ([]offline.Record, error) {
	return s.records(ctx, `SELECT `+itemColumns+` FROM items
		WHERE dead = 0 AND expires != 0 AND expires < ? ORDER BY seq`, nanos(now))
}

// exec1 runs a statement of the drain that must change exactly one row.
func (s *sqlStore) exec1(ctx context.Context, query string, args ...any) error {
	res, err := s.drain.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return offline.ErrNotFound
	}
	return nil
}

func (s *sqlStore) Claim(ctx context.Context, seq int64) (err error) {
	defer s.mapErr(&err)
	return s.exec1(ctx, `UPDATE items SET attempts = attempts + 1, claims = claims + 1 WHERE seq = ? AND dead = 0`, seq)
}

func (s *sqlStore) Delivered(ctx context.Context, seq int64) (err error) {
	defer s.mapErr(&err)
	return s.exec1(ctx, `DELETE FROM items WHERE seq = ? AND dead = 0`, seq)
}

func (s *sqlStore) Bury(ctx context.Context, seq int64, reason string, at time.Time) (err error) {
	defer s.mapErr(&err)
	return s.exec1(ctx, `UPDATE items SET dead = 1, reason = ?, died = ? WHERE seq = ? AND dead = 0`, reason, nanos(at), seq)
}

func (s *sqlStore) Release(ctx context.Context, seq int64) (err error) {
	defer s.mapErr(&err)
	return s.exec1(ctx, `UPDATE items SET claims = 0 WHERE seq = ? AND dead = 0`, seq)
}

func (s *sqlStore) Pending(ctx context.Context) (items []offline.Item, err error) {
	recs, err := s.records(ctx, `SELECT `+itemColumns+` FROM items WHERE dead = 0 ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		items = append(items, r.Item)
	}
	return items, err
}

// records runs a query of itemColumns and scans its rows.
func (s *sqlStore) records(ctx context.Context, query string, args ...any) (out []offline.Record, err error) {
	defer s.mapErr(&err)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *sqlStore) Dead(ctx context.Context) (dl []offline.DeadLetter, err error) {
	defer s.mapErr(&err)
	rows, err := s.db.QueryContext(ctx, `SELECT `+itemColumns+`, reason, died FROM items WHERE dead = 1 ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []offline.DeadLetter
	for rows.Next() {
		var d offline.DeadLetter
		var created, expires, died, seq, sum int64
		var claims int
		err := rows.Scan(&seq, &d.ID, &d.Kind, &d.Key, &d.Payload, &created, &expires, &d.Attempts, &claims, &sum, &d.Reason, &died)
		if err != nil {
			return nil, err
		}
		d.Created, d.Expires, d.Died = fromNanos(created), fromNanos(expires), fromNanos(died)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *sqlStore) Count(ctx context.Context) (n int, err error) {
	defer s.mapErr(&err)
	err = s.db.QueryRowContext(ctx, `SELECT pending FROM stats WHERE one = 1`).Scan(&n)
	return n, err
}

func (s *sqlStore) Retry(ctx context.Context, id string) (it offline.Item, err error) {
	defer s.mapErr(&err)
	err = s.db.QueryRowContext(ctx, `UPDATE items SET dead = 0, reason = '', died = 0, claims = 0
		WHERE id = ? AND dead = 1 RETURNING id, kind, okey, attempts`, id).Scan(&it.ID, &it.Kind, &it.Key, &it.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return offline.Item{}, fmt.Errorf("%w: no dead letter %s", offline.ErrNotFound, id)
	}
	return it, err
}

func (s *sqlStore) Discard(ctx context.Context, id string) (it offline.Item, err error) {
	defer s.mapErr(&err)
	err = s.db.QueryRowContext(ctx, `DELETE FROM items WHERE id = ? RETURNING id, kind, okey, attempts`, id).
		Scan(&it.ID, &it.Kind, &it.Key, &it.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return offline.Item{}, fmt.Errorf("%w: %s", offline.ErrNotFound, id)
	}
	return it, err
}

// mapErr turns a SQLite error that means a damaged file into a
// *CorruptError naming the file.
func (s *sqlStore) mapErr(err *error) {
	switch sqliteCode(*err) {
	case codeCorrupt, codeNotADB:
		*err = &CorruptError{Path: s.path, Detail: (*err).Error(), Cause: *err}
	}
}

// BeginDrain takes the sender lock of the file (and keeps it until Close).
func (s *sqlStore) BeginDrain(context.Context) error { return s.lock.acquire() }

// Close closes the database and releases the sender lock.
func (s *sqlStore) Close() error {
	return errors.Join(s.drain.Close(), s.db.Close(), s.lock.release())
}

// moveAside renames path and its -wal and -shm files to
// path+"."+tag+"-<timestamp>"(+suffix) and returns the new name of path.
func moveAside(path, tag string, now time.Time) (string, error) {
	dst := asideName(path, tag, now)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		err := os.Rename(path+suffix, dst+suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("offline: move outbox %s aside (%s): %w", path, tag, err)
		}
	}
	return dst, nil
}

// asideName is the name moveAside gives path at now.
func asideName(path, tag string, now time.Time) string {
	return path + "." + tag + "-" + now.UTC().Format("20060102T150405.000000000Z")
}

// orphaned reports a -wal or -shm file of path without path itself: what a
// crash or a user who deleted only the database leaves. The companions are
// looked at before the database: a process that creates the database links
// it into place before it opens it (and so makes its -wal), so a companion
// seen before the database was found missing predates any database now
// there.
func orphaned(path string) bool {
	companion := false
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(path + suffix); err == nil {
			companion = true
		}
	}
	if !companion {
		return false
	}
	_, err := os.Lstat(path)
	return errors.Is(err, os.ErrNotExist)
}

// staleInitAge is the age after which a temporary file of create
// (path+".init-*", with its -wal, -shm and -journal) is taken for one that a
// crash or a kill left behind: creating a database takes milliseconds, so no
// creation in progress, in any process, has a file that old.
const staleInitAge = time.Minute

// removeStaleInit removes the temporary files of create for path that are
// older than staleInitAge (by their modification time against now). Files
// of other paths are left alone; a failure is logged, not returned: the
// files cost disk space, not correctness.
func removeStaleInit(path string, now time.Time, log *slog.Logger) {
	dir, prefix := filepath.Dir(path), filepath.Base(path)+".init-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // Open reports what is wrong with the directory
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || now.Sub(fi.ModTime()) < staleInitAge {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("offline: cannot remove a stale outbox init file", "path", p, "err", err)
			continue
		}
		log.Warn("offline: removed an outbox init file a crash left behind", "path", p, "modified", fi.ModTime())
	}
}

// senderLock is the OS lock on path (the sidecar lock file). acquire is
// idempotent while held.
type senderLock struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func (l *senderLock) acquire() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("offline: sender lock %s: %w", l.path, err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		if errors.Is(err, errWouldBlock) {
			return fmt.Errorf("%w: %s", ErrLocked, l.path)
		}
		return fmt.Errorf("offline: sender lock %s: %w", l.path, err)
	}
	l.f = f
	return nil
}

func (l *senderLock) release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the lock
	l.f = nil
	return err
}
