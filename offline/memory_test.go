package offline_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/outboxtest"
)

// TestMemoryCloseReportsLostItems: closing an in-memory outbox with pending
// items says so, in the error and in the log, with the count and without
// payloads; an outbox with nothing pending closes quietly.
func TestMemoryCloseReportsLostItems(t *testing.T) {
	var logs bytes.Buffer
	ob := offline.NewMemory(offline.MemoryOptions{Logger: outboxtest.NewLogger(&logs)})
	outboxtest.MustEnqueue(t, ob, outboxtest.NewItem("a", "k"), outboxtest.NewItem("b", "k"), outboxtest.NewItem("c", ""), outboxtest.NewItem("d", ""))
	r := outboxtest.Recorder{Fail: func(it offline.Item) error {
		if it.ID == "c" {
			return offline.Permanent(errors.New("recipient unknown"))
		}
		return nil
	}}
	if _, err := ob.Drain(context.Background(), r.Send); err != nil {
		t.Fatal(err)
	}
	outboxtest.MustEnqueue(t, ob, outboxtest.NewItem("e", ""), outboxtest.NewItem("f", ""), outboxtest.NewItem("g", ""))

	err := ob.Close()
	if !errors.Is(err, offline.ErrNotKept) {
		t.Fatalf("Close with 3 pending items = %v, want ErrNotKept", err)
	}
	const want = "offline: memory outbox closed with 3 pending items; they are lost (use a durable outbox)"
	if err.Error() != want {
		t.Fatalf("Close error %q, want %q", err, want)
	}
	if again := ob.Close(); again != err {
		t.Fatalf("second Close = %v, want the same error", again)
	}
	log := logs.String()
	if n := strings.Count(log, "level=WARN"); n != 1 || !strings.Contains(log, "pending=3") || !strings.Contains(log, "dead=1") {
		t.Fatalf("log has %d warnings, want one with pending=3 dead=1:\n%s", n, log)
	}
	if strings.Contains(log, "payload of") {
		t.Fatalf("log carries a payload:\n%s", log)
	}

	logs.Reset()
	empty := offline.NewMemory(offline.MemoryOptions{Logger: outboxtest.NewLogger(&logs)})
	outboxtest.MustEnqueue(t, empty, outboxtest.NewItem("x", ""))
	if _, err := empty.Drain(context.Background(), (&outboxtest.Recorder{}).Send); err != nil {
		t.Fatal(err)
	}
	if err := empty.Close(); err != nil {
		t.Fatalf("Close with nothing pending: %v", err)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("warning without lost items:\n%s", logs.String())
	}
}
