package client

import (
	"strconv"
	"testing"
)

// TestIDSetRemembersTheLastIDs: a message id seen among the last max ids is
// a repeat; older ids are forgotten, oldest first.
func TestIDSetRemembersTheLastIDs(t *testing.T) {
	s := newIDSet(3)
	for _, id := range []string{"a", "b", "c"} {
		if !s.add(id) {
			t.Fatalf("%s reported as a repeat", id)
		}
	}
	if s.add("b") {
		t.Error("b is new again while remembered")
	}
	if !s.add("d") { // evicts a
		t.Error("d reported as a repeat")
	}
	if !s.add("a") { // a was forgotten; evicts b
		t.Error("a still remembered after 3 newer ids")
	}
	if s.add("c") || s.add("d") {
		t.Error("c or d forgotten too early")
	}
	if !s.add("b") {
		t.Error("b still remembered")
	}
	if len(s.m) != 3 || len(s.ring) != 3 {
		t.Errorf("holds %d ids in a ring of %d, want 3 and 3", len(s.m), len(s.ring))
	}
}

// TestIDSetGrowsWithUse: a client that has seen few messages holds few ids
// (a fleet of thousands of clients must not reserve the maximum each).
func TestIDSetGrowsWithUse(t *testing.T) {
	s := newIDSet(maxSeen)
	for i := range 10 {
		s.add(strconv.Itoa(i))
	}
	if cap(s.ring) > 64 {
		t.Errorf("ring capacity %d after 10 ids", cap(s.ring))
	}
}
