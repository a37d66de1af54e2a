package offline

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestMemoryCloseReportsLostItems: closing an in-memory outbox with pending
// items says so, in the error and in the log, with the count and without
// payloads; an outbox with nothing pending closes quietly.
func TestMemoryCloseReportsLostItems(t *testing.T) {
	var logs bytes.Buffer
	ob := NewMemory(MemoryOptions{Logger: newTextLogger(&logs)})
	mustEnqueue(t, ob, item("a", "k"), item("b", "k"), item("c", ""), item("d", ""))
	r := recorder{fail: func(it Item) error {
		if it.ID == "c" {
			return Permanent(errors.New("recipient unknown"))
		}
		return nil
	}}
	if _, err := ob.Drain(context.Background(), r.send); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, ob, item("e", ""), item("f", ""), item("g", ""))

	err := ob.Close()
	if !errors.Is(err, ErrNotKept) {
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
	empty := NewMemory(MemoryOptions{Logger: newTextLogger(&logs)})
	mustEnqueue(t, empty, item("x", ""))
	if _, err := empty.Drain(context.Background(), (&recorder{}).send); err != nil {
		t.Fatal(err)
	}
	if err := empty.Close(); err != nil {
		t.Fatalf("Close with nothing pending: %v", err)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("warning without lost items:\n%s", logs.String())
	}
}
