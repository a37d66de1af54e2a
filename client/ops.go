package client

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/offline"
)

// Field is one named value of a request or a reply.
type Field struct {
	Name  string
	Value string
}

// Request is a command for Call and Enqueue, for commands the typed
// operations do not cover.
type Request struct {
	Command string
	Fields  []Field
	// Mutating adds a fresh idempotency key as <requestid>.
	Mutating bool
	// NoSession sends the command without a <session> (as loginuser).
	NoSession bool
	// OnlineOnly makes Call fail with ErrOffline while Red and polling.
	OnlineOnly bool
}

// Reply is a result reply.
type Reply struct {
	Fields   []Field
	Settings []Field
	Messages []Message
}

// Get returns the first result field called name.
func (r *Reply) Get(name string) (string, bool) { return getField(r.Fields, name) }

func getField(fs []Field, name string) (string, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// Message is a message for this device's user (an invitation or a comment).
type Message struct {
	ID      string
	Type    string // "invitation" or "comment"
	From    string
	SpaceID string
	Payload string // as stored on the server (base64 for invitations)
	Created time.Time
}

// Messages is the result of GetMessages.
type Messages struct {
	Messages []Message
	// PollInterval is the server's minimum poll interval, or 0.
	PollInterval time.Duration
}

// Settings is the result of GetSettings.
type Settings struct {
	PollInterval time.Duration // 0 when absent
	Values       []Field       // every setting, in order
}

// Invitation is a space invitation for SendInvitation.
type Invitation struct {
	SpaceID   string
	Recipient string // username
	Payload   []byte // sent base64-encoded
}

// Comment is a file comment for SendComment.
type Comment struct {
	SpaceID    string
	FileID     string
	Text       string
	Recipients []string // usernames
}

// Receipt says what became of a queueable operation.
type Receipt struct {
	// ID is the idempotency key, sent as <requestid> on every attempt.
	ID string
	// Queued is true when the item waits in the outbox for the server;
	// false when the server has applied it.
	Queued bool
	// Result is the server's id for the new object (invitation id, comment
	// id) when it was sent at once; "" when queued.
	Result string
}

// op is one command as the client sends it.
type op struct {
	cmd        string
	fields     []wire.Field
	requestID  string
	session    bool
	onlineOnly bool
}

func newID() string { return strings.ToLower(crand.Text()) }

// failFast reports whether online-only operations fail at once with
// ErrOffline: while Red and the poll loop runs, since the poll loop is the
// recovery probe. A client that does not poll (yet: before its first login
// and device registration, say) has no other probe, so its calls go to the
// network and turn the light Green again when they get through.
func (c *Client) failFast() bool {
	return State(c.state.level.Load()) == Red && c.poll.Load() != nil
}

// exec sends o with the session, logging in lazily and once more when the
// session has expired (-30400).
func (c *Client) exec(ctx context.Context, o op) (*wire.Reply, error) {
	if c.closed() {
		return nil, ErrClosed
	}
	if o.onlineOnly && c.failFast() {
		return nil, ErrOffline
	}
	for try := 0; ; try++ {
		req := &wire.Request{Command: o.cmd, RequestTime: time.Now().Unix(), RequestID: o.requestID, Fields: o.fields}
		if o.session {
			s, err := c.sessionFor(ctx)
			if err != nil {
				return nil, err
			}
			req.Session = s
		}
		rep, err := c.do(ctx, req)
		if try == 0 && o.session && err != nil && sessionExpired(err) {
			if _, _, err := c.login(ctx, req.Session, false); err != nil {
				return nil, err
			}
			continue
		}
		return rep, err
	}
}

// sessionExpired reports whether err is the server's -30400. (Kept out of
// exec so that its *ServerError target is allocated on the error path only.)
func sessionExpired(err error) bool {
	var se *ServerError
	return errors.As(err, &se) && se.Primary == wire.CodeSessionExpired
}

// sessionFor returns the current session, logging in if there is none.
func (c *Client) sessionFor(ctx context.Context) (string, error) {
	if s := c.session.Load(); s != nil && *s != "" {
		return *s, nil
	}
	s, _, err := c.login(ctx, "", false)
	return s, err
}

// credentials are the username and password logins use.
type credentials struct{ username, password string }

// login logs in with the current credentials unless another goroutine
// already replaced the stale session. Unless explicit (the application's
// own Login), it does not try credentials the server has refused: it
// returns ErrLoginRequired until SetCredentials.
func (c *Client) login(ctx context.Context, stale string, explicit bool) (session, userID string, err error) {
	// One login at a time; a caller whose context ends while another
	// goroutine's login is on the network stops waiting.
	select {
	case c.loginSem <- struct{}{}:
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
	defer func() { <-c.loginSem }()
	if s := c.session.Load(); s != nil && *s != "" && *s != stale {
		return *s, "", nil
	}
	cr := c.creds.Load()
	if cr == nil || cr.username == "" || cr.password == "" {
		return "", "", ErrNoCredentials
	}
	if p := c.problem(); !explicit && (p == ProblemCredentials || p == ProblemAccount) {
		return "", "", fmt.Errorf("%w: %w", ErrLoginRequired, c.State().ProblemErr)
	}
	rep, err := c.do(ctx, &wire.Request{
		Command:     wire.CmdLoginUser,
		RequestTime: time.Now().Unix(),
		Fields:      []wire.Field{{Name: "username", Value: cr.username}, {Name: "password", Value: cr.password}},
	})
	if err != nil {
		return "", "", err
	}
	s, _ := rep.Get("session")
	if s == "" {
		return "", "", &ServerError{Primary: wire.CodeBadRequest, Message: "login reply without session", Command: wire.CmdLoginUser}
	}
	c.session.Store(&s)
	userID, _ = rep.Get("userid")
	return s, userID, nil
}

// accountCode reports whether an exception code is about the account or
// the configuration rather than the request that got it.
func accountCode(code int) bool {
	switch code {
	case wire.CodeUserUnknown, wire.CodeWrongPassword, wire.CodeNotActivated, wire.CodeDisabled, wire.CodeChecksum:
		return true
	}
	return false
}

// problemOf returns the problem of the account or the configuration that
// a failed request reveals, or NoProblem.
func problemOf(err error) Problem {
	var se *ServerError
	if errors.As(err, &se) {
		switch se.Primary {
		case wire.CodeUserUnknown, wire.CodeWrongPassword:
			if se.Command == wire.CmdLoginUser {
				return ProblemCredentials
			}
		case wire.CodeNotActivated, wire.CodeDisabled:
			return ProblemAccount
		case wire.CodeChecksum:
			return ProblemConfig
		}
		return NoProblem
	}
	var he *HTTPError
	if errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 &&
		!retryableStatus(he.StatusCode) && he.StatusCode != http.StatusRequestEntityTooLarge {
		return ProblemConfig
	}
	return NoProblem
}

// noteOutcome keeps StateInfo.Problem up to date after a request to cmd:
// a failure of the account or the configuration sets it; an accepted
// request clears what it disproves.
func (c *Client) noteOutcome(cmd string, session bool, err error) {
	if err != nil {
		if p := problemOf(err); p != NoProblem {
			c.setProblem(p, err)
		}
		return
	}
	if c.problem() == NoProblem {
		return
	}
	if cmd == wire.CmdLoginUser || session {
		c.clearProblem() // the account and the checksum are fine
	} else {
		c.clearProblem(ProblemConfig)
	}
}

// SetCredentials replaces the username and password of a live Client, for
// example after the user changed the password on another device and the
// state showed ProblemCredentials. The current session is dropped: the
// next call logs in with the new credentials, and a paused outbox drain
// resumes. An empty username or password fails with ErrInvalidConfig.
func (c *Client) SetCredentials(username, password string) error {
	if c.closed() {
		return ErrClosed
	}
	if username == "" || password == "" {
		return invalid("SetCredentials", "username and password are both required")
	}
	c.creds.Store(&credentials{username: username, password: password})
	empty := ""
	c.session.Store(&empty)
	c.clearProblem(ProblemCredentials, ProblemAccount)
	c.drainer.kick()
	return nil
}

// Login logs in with the credentials (Config.Username and Config.Password,
// or the last SetCredentials) and keeps the session for later calls. Other
// operations log in lazily, so calling Login is optional; unlike them,
// Login tries the credentials even after the server refused them. Online
// only: ErrOffline while Red and polling; without a poll loop the login
// itself probes the server.
func (c *Client) Login(ctx context.Context) (userID string, err error) {
	if c.closed() {
		return "", ErrClosed
	}
	if c.failFast() {
		return "", ErrOffline
	}
	cur := ""
	if s := c.session.Load(); s != nil {
		cur = *s
	}
	_, userID, err = c.login(ctx, cur, true)
	return userID, err
}

// RegisterUser registers a new user. Online only.
func (c *Client) RegisterUser(ctx context.Context, username, email, password string) (userID string, err error) {
	rep, err := c.exec(ctx, op{cmd: wire.CmdRegisterUser, requestID: newID(), onlineOnly: true, fields: []wire.Field{
		{Name: "username", Value: username}, {Name: "email", Value: email}, {Name: "password", Value: password},
	}})
	if err != nil {
		return "", err
	}
	userID, _ = rep.Get("userid")
	return userID, nil
}

// RegisterDevice registers this device and, when Config.DeviceID was empty,
// makes it the device that StartPolling polls. Online only.
func (c *Client) RegisterDevice(ctx context.Context, deviceName, publicKey string) (deviceID string, err error) {
	rep, err := c.exec(ctx, op{cmd: wire.CmdRegisterDevice, requestID: newID(), session: true, onlineOnly: true, fields: []wire.Field{
		{Name: "devicename", Value: deviceName}, {Name: "publickey", Value: publicKey},
	}})
	if err != nil {
		return "", err
	}
	deviceID, _ = rep.Get("deviceid")
	if deviceID != "" {
		c.deviceID.CompareAndSwap(nil, &deviceID)
	}
	return deviceID, nil
}

// DeviceID returns the device that the poll loop polls, or "".
func (c *Client) DeviceID() string {
	if d := c.deviceID.Load(); d != nil {
		return *d
	}
	return ""
}

// ChangePassword changes the user's password; later logins use the new
// one. Online only.
func (c *Client) ChangePassword(ctx context.Context, oldPassword, newPassword string) error {
	_, err := c.exec(ctx, op{cmd: wire.CmdChangePassword, requestID: newID(), session: true, onlineOnly: true, fields: []wire.Field{
		{Name: "oldpassword", Value: oldPassword}, {Name: "newpassword", Value: newPassword},
	}})
	if err == nil {
		if cr := c.creds.Load(); cr != nil {
			c.creds.Store(&credentials{username: cr.username, password: newPassword})
		}
	}
	return err
}

// SendPassword asks the server to mail a temporary password. Online only.
func (c *Client) SendPassword(ctx context.Context, username string) error {
	_, err := c.exec(ctx, op{cmd: wire.CmdSendPassword, onlineOnly: true, fields: []wire.Field{{Name: "username", Value: username}}})
	return err
}

// SetKeyRepository enables or disables the user's key repository. Online
// only.
func (c *Client) SetKeyRepository(ctx context.Context, enabled bool) error {
	_, err := c.exec(ctx, op{cmd: wire.CmdSetKeyRepository, requestID: newID(), session: true, onlineOnly: true, fields: []wire.Field{
		{Name: "enabled", Value: strconv.FormatBool(enabled)},
	}})
	return err
}

// GetSettings returns the user's settings. Online only.
func (c *Client) GetSettings(ctx context.Context) (Settings, error) {
	rep, err := c.exec(ctx, op{cmd: wire.CmdGetSettings, session: true, onlineOnly: true})
	if err != nil {
		return Settings{}, err
	}
	s := Settings{Values: fields(rep.Settings)}
	if v, ok := getField(s.Values, "pollinterval"); ok {
		s.PollInterval = parseSeconds(v)
	} else if v, ok := rep.Get("pollinterval"); ok {
		s.PollInterval = parseSeconds(v)
	}
	return s, nil
}

// GetMessages fetches up to max messages for this device (the poll). It is
// not online-only: while Red it is the recovery probe.
func (c *Client) GetMessages(ctx context.Context, max int) (Messages, error) {
	dev := c.DeviceID()
	if dev == "" {
		return Messages{}, ErrNoDevice
	}
	if max <= 0 {
		max = c.cfg.PollMaxMessages
	}
	rep, err := c.exec(ctx, op{cmd: wire.CmdGetMessages, session: true, fields: []wire.Field{
		{Name: "deviceid", Value: dev}, {Name: "max", Value: strconv.Itoa(max)},
	}})
	if err != nil {
		return Messages{}, err
	}
	var m Messages
	if v, ok := rep.Get("pollinterval"); ok {
		m.PollInterval = parseSeconds(v)
	}
	m.Messages = messages(rep.Messages)
	return m, nil
}

// AckMessages acknowledges messages so that the server stops delivering
// them to this device. It returns the server's count.
func (c *Client) AckMessages(ctx context.Context, ids []string) (int, error) {
	dev := c.DeviceID()
	if dev == "" {
		return 0, ErrNoDevice
	}
	rep, err := c.exec(ctx, op{cmd: wire.CmdAckMessages, session: true, fields: []wire.Field{
		{Name: "deviceid", Value: dev}, {Name: "ids", Value: strings.Join(ids, ",")},
	}})
	if err != nil {
		return 0, err
	}
	v, _ := rep.Get("acked")
	n, _ := strconv.Atoi(strings.TrimSpace(v))
	return n, nil
}

// SendInvitation sends a space invitation, or queues it in the outbox when
// the server is unreachable (or earlier items still wait). A queued
// invitation is delivered later, in order, exactly once.
func (c *Client) SendInvitation(ctx context.Context, inv Invitation) (Receipt, error) {
	return c.enqueueOrSend(ctx, op{cmd: wire.CmdSendInvitation, session: true, fields: []wire.Field{
		{Name: "spaceid", Value: inv.SpaceID},
		{Name: "recipient", Value: inv.Recipient},
		{Name: "payload", Value: base64.StdEncoding.EncodeToString(inv.Payload)},
	}}, "space:"+inv.SpaceID, "invitationid")
}

// SendComment sends a file comment, or queues it like SendInvitation.
func (c *Client) SendComment(ctx context.Context, cm Comment) (Receipt, error) {
	return c.enqueueOrSend(ctx, op{cmd: wire.CmdSendComment, session: true, fields: []wire.Field{
		{Name: "spaceid", Value: cm.SpaceID},
		{Name: "fileid", Value: cm.FileID},
		{Name: "text", Value: cm.Text},
		{Name: "recipients", Value: strings.Join(cm.Recipients, ",")},
	}}, "space:"+cm.SpaceID, "")
}

// Call sends an application command and returns its result reply.
func (c *Client) Call(ctx context.Context, r Request) (*Reply, error) {
	o := op{cmd: r.Command, fields: wireFields(r.Fields), session: !r.NoSession, onlineOnly: r.OnlineOnly}
	if r.Mutating {
		o.requestID = newID()
	}
	rep, err := c.exec(ctx, o)
	if err != nil {
		return nil, err
	}
	return &Reply{Fields: fields(rep.Fields), Settings: fields(rep.Settings), Messages: messages(rep.Messages)}, nil
}

// Enqueue sends an application change now or queues it like
// SendInvitation. key orders items: those with the same key are delivered
// in the order they were enqueued. A fresh idempotency key is always used.
func (c *Client) Enqueue(ctx context.Context, r Request, key string) (Receipt, error) {
	return c.enqueueOrSend(ctx, op{cmd: r.Command, fields: wireFields(r.Fields), session: !r.NoSession}, key, "")
}

// itemPayload is how an op is stored in an outbox item.
type itemPayload struct {
	Session bool        `json:"s,omitempty"`
	Fields  [][2]string `json:"f"`
}

// enqueueOrSend sends o now when the server is reachable and nothing waits
// before it, and queues it otherwise: while Red, when earlier items wait,
// after a transient failure, while the drain is paused by a Problem, and
// when ctx ends after the send began (the server may have applied it, so
// the item is queued under the same ID, which makes a replay harmless).
func (c *Client) enqueueOrSend(ctx context.Context, o op, key, resultField string) (Receipt, error) {
	if c.closed() {
		return Receipt{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Receipt{}, err
	}
	id := newID()
	o.requestID = id
	if State(c.state.level.Load()) != Red && !c.loginPaused() {
		if n, err := c.outbox.Len(ctx); err == nil && n == 0 {
			rep, err := c.exec(ctx, o)
			if err == nil {
				r := Receipt{ID: id}
				if resultField != "" {
					r.Result, _ = rep.Get(resultField)
				}
				return r, nil
			}
			switch {
			case ctx.Err() != nil || errors.Is(err, ErrClosed):
				// The outcome is unknown: queue it under its ID.
				ctx = context.WithoutCancel(ctx)
			case itemFault(o.cmd, err):
				return Receipt{}, err
			}
			// Transient, or the account's problem: queue it under the
			// same id; a replay is harmless.
		}
	}
	p := itemPayload{Session: o.session, Fields: make([][2]string, len(o.fields))}
	for i, f := range o.fields {
		p.Fields[i] = [2]string{f.Name, f.Value}
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return Receipt{}, err
	}
	now := time.Now()
	it := offline.Item{ID: id, Kind: o.cmd, Key: key, Payload: payload, Created: now, Expires: now.Add(c.cfg.ItemTTL)}
	if err := c.outbox.Enqueue(ctx, it); err != nil {
		return Receipt{ID: id}, err
	}
	if State(c.state.level.Load()) != Red {
		c.drainer.kick()
	}
	return Receipt{ID: id, Queued: true}, nil
}

// loginPaused reports whether sends wait for SetCredentials: the server
// refused the credentials or the account, and trying again by itself could
// lock the account. With ProblemConfig (a rejected checksum) sends still
// go, so that the first one the server accepts again resumes the drain; a
// rejected one stays pending and stops the drain.
func (c *Client) loginPaused() bool {
	p := c.problem()
	return p == ProblemCredentials || p == ProblemAccount
}

// errPaused is the transient outcome of an item the drain did not send
// because a Problem pauses it.
var errPaused = errors.New("client: outbox paused")

// sendItem is the outbox's SendFunc. Only a failure caused by the item
// itself (such as an unknown recipient) is permanent and makes it a dead
// letter; failures of the account, the configuration or the network leave
// it pending.
func (c *Client) sendItem(ctx context.Context, it offline.Item) error {
	if State(c.state.level.Load()) == Red {
		return ErrOffline
	}
	if c.loginPaused() {
		return fmt.Errorf("%w: %v", errPaused, c.problem())
	}
	if err := c.drainRate.Wait(ctx); err != nil {
		return err
	}
	var p itemPayload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return offline.Permanent(fmt.Errorf("stored payload is not an item of this client: %w", err))
	}
	o := op{cmd: it.Kind, requestID: it.ID, session: p.Session, fields: make([]wire.Field, len(p.Fields))}
	for i, f := range p.Fields {
		o.fields[i] = wire.Field{Name: f[0], Value: f[1]}
	}
	_, err := c.exec(ctx, o)
	if errors.Is(err, ErrNoCredentials) {
		c.setProblem(ProblemCredentials, err)
	}
	if err != nil && itemFault(it.Kind, err) {
		return offline.Permanent(err)
	}
	return err
}

// itemFault reports whether err is an answer to the command cmd itself
// that no retry can change (an unknown recipient, a missing field, a
// request too large for the server), as opposed to the network, the
// account, the configuration, or the login made on the way.
func itemFault(cmd string, err error) bool {
	var se *ServerError
	if errors.As(err, &se) {
		return se.Command == cmd && !se.Transient() && se.Primary != wire.CodeSessionExpired && !accountCode(se.Primary)
	}
	var he *HTTPError
	return errors.As(err, &he) && he.Command == cmd && he.StatusCode == http.StatusRequestEntityTooLarge
}

// retryableStatus reports whether an HTTP 4xx status is worth a retry.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// Outbox returns the outbox the Client queues into (Config.Outbox, or the
// in-memory one it created), for the application to list what waits and
// to retry or discard dead letters.
func (c *Client) Outbox() offline.Outbox { return c.outbox }

func parseSeconds(v string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 86400)) * time.Second
}

func fields(ws []wire.Field) []Field {
	if ws == nil {
		return nil
	}
	fs := make([]Field, len(ws))
	for i, f := range ws {
		fs[i] = Field(f)
	}
	return fs
}

func wireFields(fs []Field) []wire.Field {
	ws := make([]wire.Field, len(fs))
	for i, f := range fs {
		ws[i] = wire.Field(f)
	}
	return ws
}

func messages(ws []wire.Message) []Message {
	if ws == nil {
		return nil
	}
	ms := make([]Message, len(ws))
	for i, m := range ws {
		ms[i] = Message{ID: m.ID, Type: m.Type, From: m.From, SpaceID: m.SpaceID, Payload: m.Payload, Created: time.Unix(m.Created, 0)}
	}
	return ms
}
