package regsim

import (
	"encoding/base64"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

func TestMessagesToEveryDevice(t *testing.T) {
	c, hc := startCluster(t, Config{Instances: 2, Users: 3})
	alice := newSession(t, hc, c.URLs()[0], "user0")
	bob := newSession(t, hc, c.URLs()[1], "user1")
	phone := bob.registerDevice(t, "phone")

	for i := range 3 {
		reply := wantOK(t, alice.invite(t, nextID(), "user1", "p"+strconv.Itoa(i)))
		if field(t, reply, "invitationid") != strconv.Itoa(i+1) {
			t.Fatalf("invitation id: %+v", reply)
		}
	}
	wantException(t, alice.invite(t, nextID(), "nobody", "x"), wire.CodeRecipientUnknown)

	got := bob.poll(t, phone, 10).Messages
	if payloads(got) != "p0,p1,p2" {
		t.Fatalf("phone got %q", payloads(got))
	}
	m := got[0]
	if m.Type != "invitation" || m.From != "user0" || m.SpaceID != "7" || m.Created == 0 {
		t.Fatalf("message: %+v", m)
	}
	// Not acked: delivered again.
	if again := bob.poll(t, phone, 10).Messages; !slices.Equal(ids(again), ids(got)) {
		t.Fatalf("redelivery %v, want %v", ids(again), ids(got))
	}
	// A device registered later still receives what is stored.
	laptop := bob.registerDevice(t, "laptop")
	if later := bob.poll(t, laptop, 10).Messages; !slices.Equal(ids(later), ids(got)) {
		t.Fatalf("later device got %v, want %v", ids(later), ids(got))
	}
	// The phone acks two; the laptop still has all three.
	if n := bob.ack(t, phone, got[0].ID, got[2].ID, "999", got[0].ID); n != 3 {
		t.Fatalf("acked %d, want 3 (two ids, one twice)", n)
	}
	if left := bob.poll(t, phone, 10).Messages; payloads(left) != "p1" {
		t.Fatalf("phone after ack: %q", payloads(left))
	}
	if left := bob.poll(t, laptop, 10).Messages; len(left) != 3 {
		t.Fatalf("laptop after the phone's ack: %q", payloads(left))
	}
	if n := bob.ack(t, phone, got[1].ID); n != 1 {
		t.Fatalf("acked %d", n)
	}
	if left := bob.poll(t, phone, 10).Messages; len(left) != 0 {
		t.Fatalf("phone after acking all: %q", payloads(left))
	}
	// Re-acking acked ids still counts them; messages stay stored for others.
	if n := bob.ack(t, phone, got[0].ID, got[1].ID); n != 2 {
		t.Fatalf("re-ack %d", n)
	}
	if n := len(c.Messages("user1")); n != 3 {
		t.Fatalf("stored for user1: %d", n)
	}
	// Alice cannot ack bob's messages through her own device.
	aliceDev := alice.registerDevice(t, "a")
	if n := alice.ack(t, aliceDev, got[0].ID); n != 0 {
		t.Fatalf("alice acked %d of bob's messages", n)
	}
	wantException(t, bob.do(t, wire.CmdAckMessages, "", "deviceid", phone, "ids", "1,x"), wire.CodeBadRequest)

	cs := c.Counters()
	if cs.MessagesStored != 3 || cs.InvitationsStored != 3 || cs.MessagesPending != 3 {
		t.Fatalf("stored: %+v", cs)
	}
	// phone: 3 first deliveries, then 3 repeats, 1 repeat; laptop: 3, 3.
	if cs.MessagesDelivered != 6 || cs.MessagesRedelivered != 7 || cs.MessagesAcked != 3 {
		t.Fatalf("delivered %d redelivered %d acked %d", cs.MessagesDelivered, cs.MessagesRedelivered, cs.MessagesAcked)
	}
}

func TestGetMessagesMax(t *testing.T) {
	_, hc, alice, bob, dev := twoUsers(t, Config{})
	for i := range 150 {
		wantOK(t, alice.invite(t, nextID(), "user1", strconv.Itoa(i)))
	}
	if n := len(bob.poll(t, dev, 5).Messages); n != 5 {
		t.Fatalf("max 5: got %d", n)
	}
	reply := wantOK(t, bob.do(t, wire.CmdGetMessages, "", "deviceid", dev))
	if n := len(reply.Messages); n != DefaultMaxMessages {
		t.Fatalf("no max: got %d, want %d", n, DefaultMaxMessages)
	}
	// Acking out of order: the first batch minus one.
	batch := bob.poll(t, dev, 10).Messages
	bob.ack(t, dev, ids(batch[1:])...)
	next := bob.poll(t, dev, 3).Messages
	if next[0].ID != batch[0].ID || next[1].ID != strconv.Itoa(11) {
		t.Fatalf("after partial ack: %v", ids(next))
	}
	bob.ack(t, dev, batch[0].ID)
	if next := bob.poll(t, dev, 1).Messages; next[0].ID != "11" {
		t.Fatalf("after filling the gap: %v", ids(next))
	}
	_ = hc
}

// twoUsers starts a one-instance cluster with user0 (alice) and user1 (bob,
// with a device).
func twoUsers(t *testing.T, cfg Config) (*Cluster, any, *tsession, *tsession, string) {
	t.Helper()
	cfg.Users = 2
	c, hc := startCluster(t, cfg)
	alice := newSession(t, hc, c.URLs()[0], "user0")
	bob := newSession(t, hc, c.URLs()[0], "user1")
	return c, hc, alice, bob, bob.registerDevice(t, "dev")
}

func TestRepliesStayUnderOneMiB(t *testing.T) {
	c, _, alice, bob, dev := twoUsers(t, Config{})
	payload := base64.StdEncoding.EncodeToString(make([]byte, 200<<10)) // ~267 KiB
	for range 6 {
		wantOK(t, alice.invite(t, nextID(), "user1", payload))
	}
	seen := 0
	for range 6 {
		ms := bob.poll(t, dev, 100).Messages
		if len(ms) == 0 {
			break
		}
		if len(ms) > 3 {
			t.Fatalf("%d messages of 267 KiB in one reply", len(ms))
		}
		bob.ack(t, dev, ids(ms)...)
		seen += len(ms)
	}
	if seen != 6 {
		t.Fatalf("delivered %d of 6", seen)
	}
	// A message that could never fit in a reply is refused when sent: 900
	// KiB of '&' in CDATA become 4.5 MiB once escaped in a reply.
	raw := "<teamdrive><command>sendcomment</command><requestid>huge</requestid><session>" + alice.session +
		"</session><spaceid>1</spaceid><fileid>2</fileid><recipients>user1</recipients><text><![CDATA[" +
		strings.Repeat("&", 900<<10) + "]]></text></teamdrive>"
	_, body, err := alice.post([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	wantException(t, mustDecode(t, body), wire.CodeBadRequest)
	if n := len(c.Messages("user1")); n != 6 {
		t.Fatalf("stored %d", n)
	}
}

func TestComments(t *testing.T) {
	c, hc := startCluster(t, Config{Users: 3})
	a := newSession(t, hc, c.URLs()[0], "user0")
	b := newSession(t, hc, c.URLs()[0], "user1")
	bd := b.registerDevice(t, "b")
	reply := wantOK(t, a.do(t, wire.CmdSendComment, nextID(), "spaceid", "9", "fileid", "3", "text", "nice <file> & more",
		"recipients", " user1, user2,user1,"))
	if field(t, reply, "commentid") != "1" {
		t.Fatalf("comment: %+v", reply)
	}
	wantException(t, a.do(t, wire.CmdSendComment, nextID(), "spaceid", "9", "fileid", "3", "text", "t",
		"recipients", "user1,ghost"), wire.CodeRecipientUnknown)
	wantException(t, a.do(t, wire.CmdSendComment, nextID(), "spaceid", "9", "fileid", "3", "text", "t",
		"recipients", " , "), wire.CodeBadRequest)
	ms := b.poll(t, bd, 10).Messages
	if len(ms) != 1 || ms[0].Type != "comment" || ms[0].Payload != "nice <file> & more" || ms[0].SpaceID != "9" {
		t.Fatalf("user1 got %+v", ms)
	}
	if n := len(c.Messages("user2")); n != 1 {
		t.Fatalf("user2 has %d", n)
	}
	if cs := c.Counters(); cs.CommentsStored != 1 || cs.MessagesStored != 2 {
		t.Fatalf("comments %d messages %d", cs.CommentsStored, cs.MessagesStored)
	}
}

func TestMessageExpiry(t *testing.T) {
	clk := newFakeClock()
	period := 48 * time.Hour
	c, _, alice, bob, dev := twoUsers(t, Config{StoragePeriod: period, SessionTTL: 1000 * time.Hour, Now: clk.Now})
	wantOK(t, alice.invite(t, "r1", "user1", "old"))
	clk.Advance(period / 2)
	wantOK(t, alice.invite(t, "r2", "user1", "new"))
	first := bob.poll(t, dev, 10).Messages
	bob.ack(t, dev, first[0].ID)

	clk.Advance(period/2 - time.Second)
	if got := payloads(bob.poll(t, dev, 10).Messages); got != "new" {
		t.Fatalf("before expiry: %q", got)
	}
	clk.Advance(time.Second) // "old" expires
	if got := payloads(c.Messages("user1")); got != "new" {
		t.Fatalf("stored after the first expiry: %q", got)
	}
	laterDev := bob.registerDevice(t, "later")
	if got := payloads(bob.poll(t, laterDev, 10).Messages); got != "new" {
		t.Fatalf("later device after expiry: %q", got)
	}
	// The requestid record of r1 expired with the message: a replay now is
	// a new invitation.
	if n := c.AppliedRequests("r1"); n != 0 {
		t.Fatalf("r1 still recorded %d", n)
	}
	clk.Advance(period / 2) // "new" expires unacknowledged
	if got := bob.poll(t, dev, 10).Messages; len(got) != 0 {
		t.Fatalf("after expiry: %q", payloads(got))
	}
	cs := c.Counters()
	if cs.MessagesExpired != 2 || cs.MessagesExpiredUnacked != 1 || cs.MessagesPending != 0 {
		t.Fatalf("expired %d unacked %d pending %d", cs.MessagesExpired, cs.MessagesExpiredUnacked, cs.MessagesPending)
	}
}

// TestCommentToManyRecipientsEncodesOnce guards the store lock against a
// large comment to many recipients: its messages differ only in the
// recipient, so storing them must not cost one reply encoding of the text
// per recipient (with 1,000 users a 900 KiB comment once held the lock for
// seconds and allocated gigabytes).
func TestCommentToManyRecipientsEncodesOnce(t *testing.T) {
	const users = 64
	c, hc := memCluster(t, Config{Users: users})
	s := newSession(t, hc, c.URLs()[0], "user0")
	names := make([]string, users)
	for i := range names {
		names[i] = "user" + strconv.Itoa(i)
	}
	text := strings.Repeat("a", 256<<10)
	req := s.req(wire.CmdSendComment, "wide", "spaceid", "1", "fileid", "2", "text", text, "recipients", strings.Join(names, ","))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, e, _ := c.store.exec(nil, req)
	runtime.ReadMemStats(&after)
	if e != nil {
		t.Fatal(e)
	}
	// One encoding of the text, its buffer grown by doubling, allocates
	// about 4×len(text); one per recipient would be 64 times that.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*uint64(len(text)) {
		t.Fatalf("storing a %d KiB comment for %d recipients allocated %d KiB", len(text)>>10, users, alloc>>10)
	}
	for _, name := range names {
		if ms := c.Messages(name); len(ms) != 1 || ms[0].Payload != text || ms[0].Type != "comment" || ms[0].From != "user0" {
			t.Fatalf("%s holds %d messages", name, len(ms))
		}
	}
	// Each recipient's message has its own id.
	if a, b := c.Messages("user1")[0].ID, c.Messages("user2")[0].ID; a == b {
		t.Fatalf("two recipients share message id %s", a)
	}
}
