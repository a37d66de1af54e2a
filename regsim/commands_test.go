package regsim

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/regfleet/regfleet/internal/wire"
)

func TestRegisterAndLogin(t *testing.T) {
	c, hc := startCluster(t, Config{Instances: 2})
	a := &apiClient{hc: hc, base: c.URLs()[0]}
	reply := wantOK(t, a.call(t, &wire.Request{Command: wire.CmdRegisterUser, RequestID: nextID(), Fields: []wire.Field{
		{Name: "username", Value: "alice"}, {Name: "email", Value: "alice@example.test"}, {Name: "password", Value: "pw1"},
	}}))
	if field(t, reply, "userid") == "" {
		t.Fatal("empty userid")
	}
	// The store is shared: the other instance knows alice.
	b := &apiClient{hc: hc, base: c.URLs()[1]}
	s := b.login(t, "alice", "pw1")
	if s.userID != field(t, reply, "userid") || s.session == "" {
		t.Fatalf("login: %+v", s)
	}
	// Taken username, with a fresh requestid.
	wantException(t, b.call(t, &wire.Request{Command: wire.CmdRegisterUser, RequestID: nextID(), Fields: []wire.Field{
		{Name: "username", Value: "alice"}, {Name: "email", Value: "x"}, {Name: "password", Value: "pw2"},
	}}), wire.CodeUsernameTaken)
	// Wrong password, unknown user.
	wantException(t, b.call(t, &wire.Request{Command: wire.CmdLoginUser, Fields: []wire.Field{
		{Name: "username", Value: "alice"}, {Name: "password", Value: "nope"},
	}}), wire.CodeWrongPassword)
	wantException(t, b.call(t, &wire.Request{Command: wire.CmdLoginUser, Fields: []wire.Field{
		{Name: "username", Value: "bob"}, {Name: "password", Value: "pw1"},
	}}), wire.CodeUserUnknown)

	got := c.Counters()
	if got.UsersRegistered != 1 || got.Logins != 1 || got.Users != 1 || got.Sessions != 1 {
		t.Fatalf("counters: %+v", got)
	}
	if got.Requests[wire.CmdRegisterUser] != 2 || got.Requests[wire.CmdLoginUser] != 3 {
		t.Fatalf("requests: %v", got.Requests)
	}
	if got.Replies["ok"] != 2 || got.Replies["exception"] != 3 || got.Exceptions["-30104"] != 1 {
		t.Fatalf("replies %v exceptions %v", got.Replies, got.Exceptions)
	}
	if got.RequestsByInstance[0] != 1 || got.RequestsByInstance[1] != 4 {
		t.Fatalf("by instance: %v", got.RequestsByInstance)
	}
}

func TestSeededUsersAndStatus(t *testing.T) {
	c, hc := startCluster(t, Config{Users: 3, Password: "secret"})
	a := &apiClient{hc: hc, base: c.URLs()[0]}
	a.login(t, "user2", "secret")
	wantException(t, a.call(t, &wire.Request{Command: wire.CmdLoginUser, Fields: []wire.Field{
		{Name: "username", Value: "user3"}, {Name: "password", Value: "secret"},
	}}), wire.CodeUserUnknown)

	if err := c.SetUserStatus("user0", UserNotActivated); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUserStatus("user1", UserDisabled); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUserStatus("nobody", UserDisabled); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("SetUserStatus(nobody) = %v", err)
	}
	for user, code := range map[string]int{"user0": wire.CodeNotActivated, "user1": wire.CodeDisabled} {
		wantException(t, a.call(t, &wire.Request{Command: wire.CmdLoginUser, Fields: []wire.Field{
			{Name: "username", Value: user}, {Name: "password", Value: "secret"},
		}}), code)
	}
	if err := c.AddUser("user2", "x"); !errors.Is(err, ErrUserExists) {
		t.Fatalf("AddUser(user2) = %v", err)
	}
	if err := c.AddUser("carol", "x"); err != nil {
		t.Fatal(err)
	}
	a.login(t, "carol", "x")
}

func TestSessionCommands(t *testing.T) {
	c, hc := startCluster(t, Config{Users: 2, PollInterval: 45e9})
	s := newSession(t, hc, c.URLs()[0], "user0")

	// getsettings
	reply := wantOK(t, s.do(t, wire.CmdGetSettings, ""))
	settings := map[string]string{}
	for _, f := range reply.Settings {
		settings[f.Name] = f.Value
	}
	if settings["pollinterval"] != "45" || settings["keyrepository"] != "false" || settings["username"] != "user0" {
		t.Fatalf("settings: %v", settings)
	}

	// setkeyrepository
	wantOK(t, s.do(t, wire.CmdSetKeyRepository, nextID(), "enabled", "true"))
	wantException(t, s.do(t, wire.CmdSetKeyRepository, nextID(), "enabled", "maybe"), wire.CodeBadRequest)
	reply = wantOK(t, s.do(t, wire.CmdGetSettings, ""))
	if v := reply.Settings[3]; v.Name != "keyrepository" || v.Value != "true" {
		t.Fatalf("keyrepository after set: %+v", reply.Settings)
	}

	// changepassword
	wantException(t, s.do(t, wire.CmdChangePassword, nextID(), "oldpassword", "wrong", "newpassword", "n"), wire.CodeWrongPassword)
	wantOK(t, s.do(t, wire.CmdChangePassword, nextID(), "oldpassword", DefaultPassword, "newpassword", "new"))
	s.login(t, "user0", "new")
	wantException(t, s.call(t, &wire.Request{Command: wire.CmdLoginUser, Fields: []wire.Field{
		{Name: "username", Value: "user0"}, {Name: "password", Value: DefaultPassword},
	}}), wire.CodeWrongPassword)

	// sendpassword: no session, counts, keeps the password.
	wantOK(t, s.call(t, &wire.Request{Command: wire.CmdSendPassword, Fields: []wire.Field{{Name: "username", Value: "user1"}}}))
	wantException(t, s.call(t, &wire.Request{Command: wire.CmdSendPassword, Fields: []wire.Field{{Name: "username", Value: "zed"}}}), wire.CodeUserUnknown)
	s.login(t, "user1", DefaultPassword)

	// registerdevice, getmessages on it, a device of another user.
	dev := s.registerDevice(t, "laptop")
	reply = s.poll(t, dev, 10)
	if v := field(t, reply, "pollinterval"); v != "45" || len(reply.Messages) != 0 {
		t.Fatalf("poll: %+v", reply)
	}
	other := newSession(t, hc, c.URLs()[0], "user1")
	wantException(t, other.do(t, wire.CmdGetMessages, "", "deviceid", dev), wire.CodeBadRequest)
	wantException(t, s.do(t, wire.CmdGetMessages, "", "deviceid", "x"), wire.CodeBadRequest)
	wantException(t, s.do(t, wire.CmdGetMessages, "", "deviceid", dev, "max", "-1"), wire.CodeBadRequest)

	got := c.Counters()
	if got.KeyRepositoryChanges != 1 || got.PasswordsChanged != 1 || got.TemporaryPasswordsSent != 1 || got.DevicesRegistered != 1 {
		t.Fatalf("counters: %+v", got)
	}
}

func TestMissingFields(t *testing.T) {
	c, hc := startCluster(t, Config{Users: 1})
	s := newSession(t, hc, c.URLs()[0], "user0")
	dev := s.registerDevice(t, "d")
	cases := []struct {
		name string
		req  *wire.Request
	}{
		{"no requestid on registeruser", &wire.Request{Command: wire.CmdRegisterUser, Fields: []wire.Field{
			{Name: "username", Value: "u"}, {Name: "email", Value: "e"}, {Name: "password", Value: "p"}}}},
		{"no email", &wire.Request{Command: wire.CmdRegisterUser, RequestID: nextID(), Fields: []wire.Field{
			{Name: "username", Value: "u"}, {Name: "password", Value: "p"}}}},
		{"no password on login", &wire.Request{Command: wire.CmdLoginUser, Fields: []wire.Field{{Name: "username", Value: "user0"}}}},
		{"no requestid on sendinvitation", s.req(wire.CmdSendInvitation, "", "spaceid", "1", "recipient", "user0", "payload", "")},
		{"no recipient", s.req(wire.CmdSendInvitation, nextID(), "spaceid", "1", "payload", "")},
		{"no recipients", s.req(wire.CmdSendComment, nextID(), "spaceid", "1", "fileid", "2", "text", "t")},
		{"no session", &wire.Request{Command: wire.CmdGetSettings}},
		{"no deviceid", s.req(wire.CmdGetMessages, "")},
		{"no ids", s.req(wire.CmdAckMessages, "", "deviceid", dev)},
		{"no requestid on registerdevice", s.req(wire.CmdRegisterDevice, "", "devicename", "n", "publickey", "k")},
		{"no newpassword", s.req(wire.CmdChangePassword, nextID(), "oldpassword", "x")},
		{"no enabled", s.req(wire.CmdSetKeyRepository, nextID())},
		{"no username on sendpassword", &wire.Request{Command: wire.CmdSendPassword}},
		{"unknown command", s.req("dance", nextID())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reply := s.call(t, tc.req)
			wantException(t, reply, wire.CodeBadRequest)
		})
	}
	if n := c.Counters().Requests["(unknown)"]; n != 1 {
		t.Fatalf("unknown commands counted %d", n)
	}
}

func TestSessionExpiry(t *testing.T) {
	clk := newFakeClock()
	c, hc := startCluster(t, Config{Users: 1, SessionTTL: 3600e9, Now: clk.Now})
	s := newSession(t, hc, c.URLs()[0], "user0")
	clk.Advance(3599e9)
	wantOK(t, s.do(t, wire.CmdGetSettings, ""))
	clk.Advance(1e9)
	wantException(t, s.do(t, wire.CmdGetSettings, ""), wire.CodeSessionExpired)
	if n := c.Counters().Sessions; n != 0 {
		t.Fatalf("%d sessions left after expiry", n)
	}
	wantException(t, s.do(t, wire.CmdRegisterDevice, nextID(), "devicename", "d", "publickey", "k"), wire.CodeSessionExpired)
	s2 := s.login(t, "user0", DefaultPassword)
	wantOK(t, s2.do(t, wire.CmdGetSettings, ""))
	// An unknown session reads as expired: the client logs in again.
	s2.session = "forged"
	wantException(t, s2.do(t, wire.CmdGetSettings, ""), wire.CodeSessionExpired)
}

func TestChecksum(t *testing.T) {
	c, hc := startCluster(t, Config{Users: 1, Salt: "pepper"})
	a := &apiClient{hc: hc, base: c.URLs()[0], salt: "pepper"}
	s := a.login(t, "user0", DefaultPassword)
	wantOK(t, s.do(t, wire.CmdGetSettings, ""))

	body, _ := wire.EncodeRequest(&wire.Request{Command: wire.CmdGetSettings, Session: s.session})
	for name, query := range map[string]string{
		"missing":    "",
		"wrong":      "?checksum=" + wire.Checksum(body, "salt"),
		"upper-case": "?checksum=" + strings.ToUpper(wire.Checksum(body, "pepper")),
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := hc.Post(c.URLs()[0]+wire.APIPath+query, wire.ContentType, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			reply, err := wire.DecodeReply(b)
			if err != nil {
				t.Fatal(err)
			}
			wantException(t, reply, wire.CodeChecksum)
		})
	}
	// Without a salt the parameter is ignored.
	c2, hc2 := startCluster(t, Config{Users: 1})
	a2 := &apiClient{hc: hc2, base: c2.URLs()[0], salt: "anything"}
	a2.login(t, "user0", DefaultPassword)
}

func TestBadRequests(t *testing.T) {
	c, hc := startCluster(t, Config{Users: 1})
	base := c.URLs()[0]
	post := func(path string, body []byte) (*http.Response, []byte) {
		t.Helper()
		resp, err := hc.Post(base+path, wire.ContentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for name, body := range map[string]string{
		"not xml":    "hello",
		"html":       "<html><body>captive portal</body></html>",
		"truncated":  "<teamdrive><command>loginuser</command>",
		"empty":      "",
		"nested":     "<teamdrive><command><x/></command></teamdrive>",
		"doctype":    "<!DOCTYPE x [<!ENTITY a 'b'>]><teamdrive>&a;</teamdrive>",
		"two roots":  "<teamdrive><command>x</command></teamdrive><teamdrive/>",
		"bad number": "<teamdrive><command>getsettings</command><requesttime>soon</requesttime></teamdrive>",
	} {
		t.Run(name, func(t *testing.T) {
			resp, _ := post(wire.APIPath, []byte(body))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
		})
	}
	t.Run("missing command", func(t *testing.T) {
		resp, b := post(wire.APIPath, []byte("<teamdrive><username>x</username></teamdrive>"))
		reply, err := wire.DecodeReply(b)
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("status %d, %v", resp.StatusCode, err)
		}
		wantException(t, reply, wire.CodeBadRequest)
	})
	t.Run("oversized", func(t *testing.T) {
		big := append([]byte("<teamdrive><command>getsettings</command><x>"), bytes.Repeat([]byte("a"), wire.MaxBodySize)...)
		big = append(big, "</x></teamdrive>"...)
		resp, _ := post(wire.APIPath, big)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("oversized chunked", func(t *testing.T) {
		// No Content-Length: the cap applies while reading.
		big := io.MultiReader(strings.NewReader("<teamdrive>"), io.LimitReader(zeros{}, wire.MaxBodySize+10))
		req, _ := http.NewRequest(http.MethodPost, base+wire.APIPath, big)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("exactly 1 MiB is read", func(t *testing.T) {
		head := "<teamdrive><command>getsettings</command><x>"
		tail := "</x></teamdrive>"
		body := head + strings.Repeat("a", wire.MaxBodySize-len(head)-len(tail)) + tail
		_, b := post(wire.APIPath, []byte(body))
		reply, err := wire.DecodeReply(b)
		if err != nil {
			t.Fatal(err)
		}
		wantException(t, reply, wire.CodeBadRequest) // no session
	})
	t.Run("GET on the API", func(t *testing.T) {
		resp, err := hc.Get(base + wire.APIPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Fatalf("status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		resp, _ := post("/api", []byte("<teamdrive/>"))
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d, want 404", resp.StatusCode)
		}
	})
	t.Run("POST on healthz", func(t *testing.T) {
		resp, _ := post(wire.HealthPath, nil)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405", resp.StatusCode)
		}
	})
	got := c.Counters()
	if got.Requests["(invalid)"] < 10 || got.Replies["4xx"] < 12 {
		t.Fatalf("counters: requests %v replies %v", got.Requests, got.Replies)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestHealthz(t *testing.T) {
	c, hc := startCluster(t, Config{})
	get := func() (int, string) {
		t.Helper()
		resp, err := hc.Get(c.URLs()[0] + wire.HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	c.SetStoreFault(true)
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz with dbdown: %d", code)
	}
	c.SetStoreFault(false)
	c.Instance(0).SetFault(Fault{Unavailable: true})
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz while unavailable: %d", code)
	}
	c.Instance(0).SetFault(Fault{})
	if code, _ := get(); code != http.StatusOK {
		t.Fatalf("healthz after clearing: %d", code)
	}
	if n := c.Counters().HealthChecks; n != 4 {
		t.Fatalf("health checks %d", n)
	}
}
