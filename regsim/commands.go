package regsim

import (
	"strconv"
	"strings"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// Exceptions the simulator answers with.
func exc(code int, msg string) *wire.Exception {
	return &wire.Exception{PrimaryCode: code, Message: msg}
}

var (
	excDatabase = &wire.Exception{
		PrimaryCode:   wire.CodeDatabase,
		SecondaryCode: wire.SecondaryMySQLConnect,
		Message:       "Can't connect to MySQL server",
	}
	excUserUnknown      = exc(wire.CodeUserUnknown, "Username does not exist")
	excWrongPassword    = exc(wire.CodeWrongPassword, "Wrong password")
	excNotActivated     = exc(wire.CodeNotActivated, "User not activated")
	excDisabled         = exc(wire.CodeDisabled, "User disabled")
	excUsernameTaken    = exc(wire.CodeUsernameTaken, "Username already taken")
	excUnknownCommand   = exc(wire.CodeBadRequest, "Unknown command")
	excMissingCommand   = exc(wire.CodeBadRequest, "Missing field command")
	excChecksum         = exc(wire.CodeChecksum, "Checksum mismatch")
	excRecipientUnknown = exc(wire.CodeRecipientUnknown, "Recipient does not exist")
	excSessionExpired   = exc(wire.CodeSessionExpired, "Session expired")
	excUnknownDevice    = exc(wire.CodeBadRequest, "Unknown device")
	excMessageTooLarge  = exc(wire.CodeBadRequest, "Message too large")
)

func excMissing(field string) *wire.Exception {
	return exc(wire.CodeBadRequest, "Missing field "+field)
}

func excInvalid(field string) *wire.Exception {
	return exc(wire.CodeBadRequest, "Invalid field "+field)
}

// mutating reports whether a command requires a requestid and is
// idempotent by it.
func mutating(cmd string) bool {
	switch cmd {
	case wire.CmdRegisterUser, wire.CmdRegisterDevice, wire.CmdSendInvitation,
		wire.CmdSendComment, wire.CmdChangePassword, wire.CmdSetKeyRepository:
		return true
	}
	return false
}

// sessionCommand reports whether a command requires a session.
func sessionCommand(cmd string) bool {
	switch cmd {
	case wire.CmdRegisterUser, wire.CmdLoginUser, wire.CmdSendPassword:
		return false
	}
	return true
}

// fieldsOf lists the command fields (besides requestid and session) that a
// command requires. getmessages' max is optional.
func fieldsOf(cmd string) []string {
	switch cmd {
	case wire.CmdRegisterUser:
		return []string{"username", "email", "password"}
	case wire.CmdLoginUser:
		return []string{"username", "password"}
	case wire.CmdRegisterDevice:
		return []string{"devicename", "publickey"}
	case wire.CmdSendInvitation:
		return []string{"spaceid", "recipient", "payload"}
	case wire.CmdSendComment:
		return []string{"spaceid", "fileid", "text", "recipients"}
	case wire.CmdGetMessages:
		return []string{"deviceid"}
	case wire.CmdAckMessages:
		return []string{"deviceid", "ids"}
	case wire.CmdChangePassword:
		return []string{"oldpassword", "newpassword"}
	case wire.CmdSendPassword:
		return []string{"username"}
	case wire.CmdSetKeyRepository:
		return []string{"enabled"}
	case wire.CmdGetSettings:
		return nil
	}
	return nil
}

func knownCommand(cmd string) bool { return commandIndex(cmd) < cmdUnknown }

// exec applies one decoded request and appends its encoded result reply to
// dst. On an exception it returns dst unchanged and the exception, which the
// caller encodes. replayed reports an answer from an idempotency record.
func (s *store) exec(dst []byte, req *wire.Request) (out []byte, e *wire.Exception, replayed bool) {
	cmd := req.Command
	if !knownCommand(cmd) {
		return dst, excUnknownCommand, false
	}
	if s.dbDown.Load() {
		return dst, excDatabase, false
	}
	if mutating(cmd) && req.RequestID == "" {
		return dst, excMissing("requestid"), false
	}
	if sessionCommand(cmd) && req.Session == "" {
		return dst, excMissing("session"), false
	}
	for _, name := range fieldsOf(cmd) {
		if _, ok := req.Get(name); !ok {
			return dst, excMissing(name), false
		}
	}

	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)

	var u *user
	if sessionCommand(cmd) {
		se, ok := s.sessions[req.Session]
		if !ok || !se.expires.After(now) {
			return dst, excSessionExpired, false
		}
		u = se.user
	}

	var key idemKey
	if mutating(cmd) {
		key = idemKey{id: req.RequestID}
		if u != nil {
			key.user = u.id
		} else {
			key.name, _ = req.Get("username")
		}
		if e, ok := s.idem[key]; ok && e.expires.After(now) {
			s.ctr.duplicates.Add(1)
			return append(dst, e.reply...), nil, true
		}
	}

	var reply wire.Reply
	switch cmd {
	case wire.CmdRegisterUser:
		e = s.registerUserLocked(req, &reply)
	case wire.CmdLoginUser:
		e = s.loginLocked(req, now, &reply)
	case wire.CmdRegisterDevice:
		e = s.registerDeviceLocked(u, req, &reply)
	case wire.CmdSendInvitation:
		e = s.sendInvitationLocked(u, req, now, &reply)
	case wire.CmdSendComment:
		e = s.sendCommentLocked(u, req, now, &reply)
	case wire.CmdGetMessages:
		return s.getMessagesLocked(dst, u, req, now)
	case wire.CmdAckMessages:
		e = s.ackLocked(u, req, &reply)
	case wire.CmdChangePassword:
		e = s.changePasswordLocked(u, req, &reply)
	case wire.CmdSendPassword:
		e = s.sendPasswordLocked(req, &reply)
	case wire.CmdSetKeyRepository:
		e = s.setKeyRepositoryLocked(u, req, &reply)
	case wire.CmdGetSettings:
		s.settingsLocked(u, &reply)
	}
	if e != nil {
		return dst, e, false
	}
	start := len(dst)
	out, err := wire.AppendReply(dst, &reply)
	if err != nil {
		// Only reachable through a bug in the simulator; say so rather
		// than panic.
		return dst, exc(wire.CodeBadRequest, "Reply cannot be encoded"), false
	}
	if mutating(cmd) {
		ent := &idemEntry{key: key, reply: append([]byte(nil), out[start:]...), expires: now.Add(s.storagePeriod)}
		s.idem[key] = ent
		s.idemQ.push(ent)
	}
	return out, nil, false
}

func okReply(r *wire.Reply) { r.Fields = []wire.Field{{Name: "ok"}} }

func (s *store) registerUserLocked(req *wire.Request, r *wire.Reply) *wire.Exception {
	name, _ := req.Get("username")
	email, _ := req.Get("email")
	password, _ := req.Get("password")
	if name = strings.TrimSpace(name); name == "" {
		return excInvalid("username")
	}
	if password == "" {
		return excInvalid("password")
	}
	if _, taken := s.users[name]; taken {
		return excUsernameTaken
	}
	u := s.addUserLocked(name, email, password)
	s.ctr.registered.Add(1)
	r.Fields = []wire.Field{{Name: "userid", Value: strconv.FormatInt(u.id, 10)}}
	return nil
}

func (s *store) loginLocked(req *wire.Request, now time.Time, r *wire.Reply) *wire.Exception {
	name, _ := req.Get("username")
	password, _ := req.Get("password")
	u, ok := s.users[strings.TrimSpace(name)]
	switch {
	case !ok:
		return excUserUnknown
	case u.password != password:
		return excWrongPassword
	case u.status == UserNotActivated:
		return excNotActivated
	case u.status == UserDisabled:
		return excDisabled
	}
	se := &session{token: newToken(), user: u, expires: now.Add(s.sessionTTL)}
	s.sessions[se.token] = se
	s.sessionQ.push(se)
	s.ctr.logins.Add(1)
	r.Fields = []wire.Field{
		{Name: "userid", Value: strconv.FormatInt(u.id, 10)},
		{Name: "session", Value: se.token},
	}
	return nil
}

func (s *store) registerDeviceLocked(u *user, req *wire.Request, r *wire.Reply) *wire.Exception {
	name, _ := req.Get("devicename")
	key, _ := req.Get("publickey")
	s.nextDevice++
	d := &device{id: s.nextDevice, owner: u, name: name, publicKey: key}
	s.devices[d.id] = d
	u.devices = append(u.devices, d)
	s.ctr.devices.Add(1)
	r.Fields = []wire.Field{{Name: "deviceid", Value: strconv.FormatInt(d.id, 10)}}
	return nil
}

// newMessageLocked builds a message for u, checking that it fits in a reply.
func (s *store) newMessageLocked(to *user, kind, from, spaceID, payload, requestID string, now time.Time) (*message, *wire.Exception) {
	m := &message{
		to:        to,
		expires:   now.Add(s.storagePeriod),
		requestID: requestID,
		w: wire.Message{
			Type:    kind,
			From:    from,
			SpaceID: spaceID,
			Payload: payload,
			Created: now.Unix(),
		},
	}
	// The id is not known yet; measure with the widest id.
	m.w.ID = "9223372036854775807"
	enc, err := wire.EncodeReply(&wire.Reply{Messages: []wire.Message{m.w}})
	if err != nil || len(enc) > wire.MaxBodySize-1024 {
		return nil, excMessageTooLarge
	}
	m.size = len(enc) - s.emptyMessagesLen
	return m, nil
}

// storeLocked assigns an id to m and files it.
func (s *store) storeLocked(m *message) {
	s.nextMsg++
	m.id = s.nextMsg
	m.w.ID = strconv.FormatInt(m.id, 10)
	m.to.msgs = append(m.to.msgs, m)
	s.msgQ.push(m)
	s.ctr.msgStored.Add(1)
}

func (s *store) sendInvitationLocked(u *user, req *wire.Request, now time.Time, r *wire.Reply) *wire.Exception {
	spaceID, _ := req.Get("spaceid")
	recipient, _ := req.Get("recipient")
	payload, _ := req.Get("payload")
	to, ok := s.users[strings.TrimSpace(recipient)]
	if !ok {
		return excRecipientUnknown
	}
	m, e := s.newMessageLocked(to, "invitation", u.name, spaceID, payload, req.RequestID, now)
	if e != nil {
		return e
	}
	s.storeLocked(m)
	s.nextInvitation++
	s.ctr.invitations.Add(1)
	r.Fields = []wire.Field{{Name: "invitationid", Value: strconv.FormatInt(s.nextInvitation, 10)}}
	return nil
}

func (s *store) sendCommentLocked(u *user, req *wire.Request, now time.Time, r *wire.Reply) *wire.Exception {
	spaceID, _ := req.Get("spaceid")
	text, _ := req.Get("text")
	list, _ := req.Get("recipients")
	var tos []*user
	seen := make(map[*user]struct{})
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		to, ok := s.users[name]
		if !ok {
			return excRecipientUnknown
		}
		if _, dup := seen[to]; !dup {
			seen[to] = struct{}{}
			tos = append(tos, to)
		}
	}
	if len(tos) == 0 {
		return excInvalid("recipients")
	}
	// The messages differ only in the recipient: build and measure one
	// (an encoding of the text), then file a copy per recipient.
	first, e := s.newMessageLocked(tos[0], "comment", u.name, spaceID, text, req.RequestID, now)
	if e != nil {
		return e
	}
	for _, to := range tos {
		m := *first
		m.to = to
		s.storeLocked(&m)
	}
	s.nextComment++
	s.ctr.comments.Add(1)
	r.Fields = []wire.Field{{Name: "commentid", Value: strconv.FormatInt(s.nextComment, 10)}}
	return nil
}

// deviceLocked returns the device named by the request's deviceid if it
// belongs to u.
func (s *store) deviceLocked(u *user, req *wire.Request) (*device, *wire.Exception) {
	v, _ := req.Get("deviceid")
	id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return nil, excInvalid("deviceid")
	}
	d, ok := s.devices[id]
	if !ok || d.owner != u {
		return nil, excUnknownDevice
	}
	return d, nil
}

func (s *store) getMessagesLocked(dst []byte, u *user, req *wire.Request, now time.Time) ([]byte, *wire.Exception, bool) {
	d, e := s.deviceLocked(u, req)
	if e != nil {
		return dst, e, false
	}
	limit := DefaultMaxMessages
	if v, ok := req.Get("max"); ok && strings.TrimSpace(v) != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return dst, excInvalid("max"), false
		}
		if n > 0 {
			limit = n
		}
	}
	msgs := u.msgs
	i := searchMsgs(msgs, d.ackedBelow)
	out := make([]wire.Message, 0, min(limit, len(msgs)-i))
	budget := wire.MaxBodySize - s.emptyMessagesLen - 64 // room for <pollinterval>
	for ; i < len(msgs) && len(out) < limit; i++ {
		m := msgs[i]
		if _, acked := d.acked[m.id]; acked || !m.expires.After(now) {
			continue
		}
		if budget -= m.size; budget < 0 && len(out) > 0 {
			break
		}
		out = append(out, m.w)
		if m.id > d.maxDelivered {
			d.maxDelivered = m.id
			s.ctr.msgDelivered.Add(1)
		} else {
			s.ctr.msgRedelivered.Add(1)
		}
	}
	reply := wire.Reply{
		Fields:   []wire.Field{{Name: "pollinterval", Value: strconv.FormatInt(s.pollSeconds(), 10)}},
		Messages: out,
	}
	res, err := wire.AppendReply(dst, &reply)
	if err != nil {
		return dst, exc(wire.CodeBadRequest, "Reply cannot be encoded"), false
	}
	return res, nil, false
}

func (s *store) ackLocked(u *user, req *wire.Request, r *wire.Reply) *wire.Exception {
	d, e := s.deviceLocked(u, req)
	if e != nil {
		return e
	}
	list, _ := req.Get("ids")
	var ids []int64
	for v := range strings.SplitSeq(list, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return excInvalid("ids")
		}
		ids = append(ids, id)
	}
	n := 0
	for _, id := range ids {
		i := searchMsgs(u.msgs, id)
		if i == len(u.msgs) || u.msgs[i].id != id {
			continue // not a stored message of this user
		}
		n++
		if id < d.ackedBelow {
			continue
		}
		if _, ok := d.acked[id]; ok {
			continue
		}
		if d.acked == nil {
			d.acked = make(map[int64]struct{})
		}
		d.acked[id] = struct{}{}
		u.msgs[i].acks++
		s.ctr.msgAcked.Add(1)
	}
	// Advance the watermark over the acknowledged prefix.
	for i := searchMsgs(u.msgs, d.ackedBelow); i < len(u.msgs); i++ {
		id := u.msgs[i].id
		if _, ok := d.acked[id]; !ok {
			break
		}
		delete(d.acked, id)
		d.ackedBelow = id + 1
	}
	r.Fields = []wire.Field{{Name: "acked", Value: strconv.Itoa(n)}}
	return nil
}

func (s *store) changePasswordLocked(u *user, req *wire.Request, r *wire.Reply) *wire.Exception {
	oldPW, _ := req.Get("oldpassword")
	newPW, _ := req.Get("newpassword")
	if u.password != oldPW {
		return excWrongPassword
	}
	if newPW == "" {
		return excInvalid("newpassword")
	}
	u.password = newPW
	s.ctr.passwords.Add(1)
	okReply(r)
	return nil
}

func (s *store) sendPasswordLocked(req *wire.Request, r *wire.Reply) *wire.Exception {
	name, _ := req.Get("username")
	if _, ok := s.users[strings.TrimSpace(name)]; !ok {
		return excUserUnknown
	}
	// The simulator mails nothing and keeps the password, so that load
	// runs can go on logging in; it only counts the request.
	s.ctr.tempPasswords.Add(1)
	okReply(r)
	return nil
}

func (s *store) setKeyRepositoryLocked(u *user, req *wire.Request, r *wire.Reply) *wire.Exception {
	v, _ := req.Get("enabled")
	on, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return excInvalid("enabled")
	}
	u.keyRepo = on
	s.ctr.keyRepo.Add(1)
	okReply(r)
	return nil
}

func (s *store) settingsLocked(u *user, r *wire.Reply) {
	r.Settings = []wire.Field{
		{Name: "pollinterval", Value: strconv.FormatInt(s.pollSeconds(), 10)},
		{Name: "storageperiod", Value: strconv.FormatInt(int64(s.storagePeriod/time.Second), 10)},
		{Name: "sessionttl", Value: strconv.FormatInt(int64(s.sessionTTL/time.Second), 10)},
		{Name: "keyrepository", Value: strconv.FormatBool(u.keyRepo)},
		{Name: "username", Value: u.name},
		{Name: "email", Value: u.email},
	}
}
