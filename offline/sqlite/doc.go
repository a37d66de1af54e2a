// Package sqlite is the durable outbox of package offline: the queue a
// desktop application keeps while the Registration Server is unreachable,
// in one SQLite file (modernc.org/sqlite, pure Go) that survives crashes,
// kills and restarts. It is a package of its own so that a program that
// only uses the in-memory outbox does not link SQLite.
//
// Open returns an *Outbox, which keeps the whole offline.Outbox contract
// and runs the offline package's one drain algorithm (through
// offline.NewStoreOutbox) on the file:
//
//	ob, err := sqlite.Open(filepath.Join(dataDir, "outbox.db"), sqlite.Options{})
//	if err != nil {
//		return err // a *CorruptError names the file and what is wrong
//	}
//	defer ob.Close()
//	c, err := client.New(client.Config{URLs: urls, Outbox: ob})
//
// A damaged file is reported at Open as a *CorruptError, or moved aside
// with Options.MoveAsideCorrupt. One process at a time drains a file (an OS
// file lock); any number may enqueue and read.
package sqlite
