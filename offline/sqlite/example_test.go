package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/sqlite"
)

// ExampleOpen keeps the queue in a file, so that it survives a restart.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "outbox")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "outbox.db")

	ob, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		fmt.Println(err) // a *sqlite.CorruptError names the file and what is wrong
		return
	}
	if err := ob.Enqueue(ctx, offline.Item{ID: "req-1", Kind: "sendcomment", Key: "file-7", Payload: []byte("…")}); err != nil {
		fmt.Println(err)
		return
	}
	ob.Close() // the application quits, or crashes

	ob, err = sqlite.Open(path, sqlite.Options{MoveAsideCorrupt: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ob.Close()
	events := ob.Subscribe(16)
	res, err := ob.Drain(ctx, func(ctx context.Context, it offline.Item) error {
		return nil // send it with it.ID as <requestid>
	})
	fmt.Println("sent after restart:", res.Sent, err)
	e := <-events.C
	fmt.Println("event:", e.Kind, e.ID)
	// Output:
	// sent after restart: 1 <nil>
	// event: sent req-1
}
