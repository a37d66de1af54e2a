package regsim

import (
	"bytes"
	"testing"

	"github.com/regfleet/regfleet/internal/wire"
)

func TestIdempotentReplay(t *testing.T) {
	c, hc := startCluster(t, Config{Instances: 2, Users: 2})
	alice := newSession(t, hc, c.URLs()[0], "user0")
	other := &tsession{apiClient: &apiClient{hc: hc, base: c.URLs()[1]}, user: alice.user, session: alice.session}

	send := func(s *tsession, rid string) []byte {
		t.Helper()
		status, body, err := s.raw(s.req(wire.CmdSendInvitation, rid, "spaceid", "1", "recipient", "user1", "payload", "cA=="))
		if err != nil || status != 200 {
			t.Fatalf("send: %d %v", status, err)
		}
		return body
	}
	first := send(alice, "inv-1")
	// The replay goes to another instance: the record is in the shared store.
	again := send(other, "inv-1")
	if !bytes.Equal(first, again) {
		t.Fatalf("replay answered differently:\n%s\n%s", first, again)
	}
	if n := len(c.Messages("user1")); n != 1 {
		t.Fatalf("%d invitations stored after a replay", n)
	}
	if n := c.AppliedRequests("inv-1"); n != 1 {
		t.Fatalf("AppliedRequests = %d", n)
	}
	// A new requestid is a new invitation.
	if bytes.Equal(send(alice, "inv-2"), first) {
		t.Fatal("a new requestid got the old reply")
	}
	// A replay after a re-login (new session, same user) is still absorbed.
	relogged := alice.login(t, "user0", DefaultPassword)
	if !bytes.Equal(send(relogged, "inv-1"), first) {
		t.Fatal("replay after re-login was applied again")
	}
	// The same requestid from another user is that user's own request.
	bob := newSession(t, hc, c.URLs()[0], "user1")
	bobReply := bob.do(t, wire.CmdSendInvitation, "inv-1", "spaceid", "1", "recipient", "user0", "payload", "")
	if field(t, wantOK(t, bobReply), "invitationid") != "3" {
		t.Fatalf("bob's inv-1: %+v", bobReply)
	}
	cs := c.Counters()
	if cs.DuplicateRequestIDs != 2 || cs.InvitationsStored != 3 || cs.MessagesStored != 3 {
		t.Fatalf("duplicates %d invitations %d messages %d", cs.DuplicateRequestIDs, cs.InvitationsStored, cs.MessagesStored)
	}
}

func TestIdempotentEveryMutatingCommand(t *testing.T) {
	c, hc := startCluster(t, Config{Users: 2})
	s := newSession(t, hc, c.URLs()[0], "user0")
	reqs := []*wire.Request{
		{Command: wire.CmdRegisterUser, RequestID: "ru", Fields: []wire.Field{
			{Name: "username", Value: "neo"}, {Name: "email", Value: "e"}, {Name: "password", Value: "p"}}},
		s.req(wire.CmdRegisterDevice, "rd", "devicename", "d", "publickey", "k"),
		s.req(wire.CmdSendInvitation, "si", "spaceid", "1", "recipient", "user1", "payload", ""),
		s.req(wire.CmdSendComment, "sc", "spaceid", "1", "fileid", "2", "text", "t", "recipients", "user1"),
		s.req(wire.CmdChangePassword, "cp", "oldpassword", DefaultPassword, "newpassword", "n2"),
		s.req(wire.CmdSetKeyRepository, "sk", "enabled", "true"),
	}
	for _, r := range reqs {
		_, first, err := s.raw(r)
		if err != nil {
			t.Fatal(err)
		}
		wantOK(t, mustDecode(t, first))
		_, second, err := s.raw(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("%s replay:\n%s\n%s", r.Command, first, second)
		}
	}
	cs := c.Counters()
	if cs.DuplicateRequestIDs != int64(len(reqs)) || cs.UsersRegistered != 1 || cs.DevicesRegistered != 1 ||
		cs.InvitationsStored != 1 || cs.CommentsStored != 1 || cs.PasswordsChanged != 1 || cs.KeyRepositoryChanges != 1 {
		t.Fatalf("counters after replays: %+v", cs)
	}
}

func TestFailedCommandIsNotRecorded(t *testing.T) {
	c, hc := startCluster(t, Config{Users: 1})
	s := newSession(t, hc, c.URLs()[0], "user0")
	wantException(t, s.invite(t, "later", "user9", "x"), wire.CodeRecipientUnknown)
	if err := c.AddUser("user9", "pw"); err != nil {
		t.Fatal(err)
	}
	// The same requestid is evaluated afresh: nothing was applied before.
	wantOK(t, s.invite(t, "later", "user9", "x"))
	c.SetStoreFault(true)
	wantException(t, s.invite(t, "dbdown", "user9", "x"), wire.CodeDatabase)
	c.SetStoreFault(false)
	wantOK(t, s.invite(t, "dbdown", "user9", "x"))
	if n := c.Counters().DuplicateRequestIDs; n != 0 {
		t.Fatalf("duplicates %d", n)
	}
}

func mustDecode(tb testing.TB, body []byte) *wire.Reply {
	tb.Helper()
	r, err := wire.DecodeReply(body)
	if err != nil {
		tb.Fatalf("decode: %v\n%s", err, body)
	}
	return r
}
