package offline_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/regfleet/regfleet/offline"
)

// ExampleNewMemory queues two invitations while the server is unreachable
// and delivers them once it is back; a third one the server refuses for
// good becomes a dead letter.
func ExampleNewMemory() {
	ctx := context.Background()
	ob := offline.NewMemory(offline.MemoryOptions{})
	defer ob.Close()

	for _, id := range []string{"req-1", "req-2", "req-3"} {
		err := ob.Enqueue(ctx, offline.Item{ID: id, Kind: "sendinvitation", Key: "space-42", Payload: []byte("…")})
		if err != nil {
			fmt.Println("enqueue:", err)
			return
		}
	}

	// Offline: the first send fails transiently; Drain stops and keeps it.
	_, err := ob.Drain(ctx, func(ctx context.Context, it offline.Item) error {
		return errors.New("connection refused")
	})
	n, _ := ob.Len(ctx)
	fmt.Println("offline:", err, "- pending:", n)

	// Back online.
	res, err := ob.Drain(ctx, func(ctx context.Context, it offline.Item) error {
		if it.ID == "req-3" {
			return offline.Permanent(errors.New("recipient unknown"))
		}
		fmt.Println("sent", it.ID, "attempt", it.Attempts)
		return nil
	})
	fmt.Printf("online: %d sent, %d dead, err %v\n", res.Sent, res.Dead, err)
	dead, _ := ob.Dead(ctx)
	for _, d := range dead {
		fmt.Println("dead letter:", d.ID, d.Reason)
	}
	// Output:
	// offline: connection refused - pending: 3
	// sent req-1 attempt 2
	// sent req-2 attempt 1
	// online: 2 sent, 1 dead, err <nil>
	// dead letter: req-3 recipient unknown
}

// ExampleOutbox shows an application's dead-letter screen written against
// the Outbox interface alone, as a client.Config.Outbox is: it lists the
// dead letters, retries one and discards the other.
func ExampleOutbox() {
	ctx := context.Background()
	var ob offline.Outbox = offline.NewMemory(offline.MemoryOptions{})
	defer ob.Close()
	for _, id := range []string{"req-1", "req-2"} {
		_ = ob.Enqueue(ctx, offline.Item{ID: id, Kind: "sendinvitation", Key: "space-42"})
	}
	_, _ = ob.Drain(ctx, func(ctx context.Context, it offline.Item) error {
		return offline.Permanent(errors.New("recipient unknown"))
	})

	dead, _ := ob.Dead(ctx)
	for _, d := range dead {
		fmt.Println("dead letter:", d.ID, d.Reason)
	}
	_ = ob.Retry(ctx, "req-1")   // the user fixed the recipient
	_ = ob.Discard(ctx, "req-2") // the user gave up on this one
	pending, _ := ob.Pending(ctx)
	fmt.Println("pending:", len(pending), pending[0].ID)
	// Output:
	// dead letter: req-1 recipient unknown
	// dead letter: req-2 recipient unknown
	// pending: 1 req-1
}
