package regsim

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/regfleet/regfleet/internal/wire"
)

// apiClient sends protocol requests to one base URL.
type apiClient struct {
	hc   *http.Client
	base string
	salt string
}

var reqSeq atomic.Int64

// nextID returns a fresh requestid.
func nextID() string { return "req-" + strconv.FormatInt(reqSeq.Add(1), 10) }

// call sends one request and decodes the reply; an HTTP status other than
// 200 or an undecodable body fails the test.
func (a *apiClient) call(tb testing.TB, r *wire.Request) *wire.Reply {
	tb.Helper()
	status, body, err := a.raw(r)
	if err != nil {
		tb.Fatalf("%s: %v", r.Command, err)
	}
	if status != http.StatusOK {
		tb.Fatalf("%s: HTTP %d: %s", r.Command, status, body)
	}
	reply, err := wire.DecodeReply(body)
	if err != nil {
		tb.Fatalf("%s: decode reply: %v\n%s", r.Command, err, body)
	}
	return reply
}

// raw sends one request and returns the status and body.
func (a *apiClient) raw(r *wire.Request) (int, []byte, error) {
	if r.RequestTime == 0 {
		r.RequestTime = 1763800000
	}
	body, err := wire.EncodeRequest(r)
	if err != nil {
		return 0, nil, err
	}
	return a.post(body)
}

func (a *apiClient) post(body []byte) (int, []byte, error) {
	url := a.base + wire.APIPath
	if a.salt != "" {
		url += "?checksum=" + wire.Checksum(body, a.salt)
	}
	resp, err := a.hc.Post(url, wire.ContentType, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxBodySize+1))
	return resp.StatusCode, b, err
}

// wantOK fails unless reply is a result.
func wantOK(tb testing.TB, reply *wire.Reply) *wire.Reply {
	tb.Helper()
	if reply.Exception != nil {
		tb.Fatalf("unexpected exception %v", reply.Exception)
	}
	return reply
}

// wantException fails unless reply is the exception code.
func wantException(tb testing.TB, reply *wire.Reply, code int) {
	tb.Helper()
	if reply.Exception == nil {
		tb.Fatalf("got result %+v, want exception %d", reply, code)
	}
	if reply.Exception.PrimaryCode != code {
		tb.Fatalf("got exception %v, want %d", reply.Exception, code)
	}
}

func field(tb testing.TB, reply *wire.Reply, name string) string {
	tb.Helper()
	v, ok := reply.Get(name)
	if !ok {
		tb.Fatalf("reply has no <%s>: %+v", name, reply)
	}
	return v
}

// tsession is a logged-in user.
type tsession struct {
	*apiClient
	user    string
	userID  string
	session string
}

func newSession(tb testing.TB, hc *http.Client, base, user string) *tsession {
	tb.Helper()
	a := &apiClient{hc: hc, base: base}
	return a.login(tb, user, DefaultPassword)
}

func (a *apiClient) login(tb testing.TB, user, password string) *tsession {
	tb.Helper()
	reply := wantOK(tb, a.call(tb, &wire.Request{Command: wire.CmdLoginUser, Fields: []wire.Field{
		{Name: "username", Value: user}, {Name: "password", Value: password},
	}}))
	return &tsession{apiClient: a, user: user, userID: field(tb, reply, "userid"), session: field(tb, reply, "session")}
}

func (s *tsession) req(cmd, requestID string, kv ...string) *wire.Request {
	r := &wire.Request{Command: cmd, RequestID: requestID, Session: s.session}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Fields = append(r.Fields, wire.Field{Name: kv[i], Value: kv[i+1]})
	}
	return r
}

func (s *tsession) do(tb testing.TB, cmd, requestID string, kv ...string) *wire.Reply {
	tb.Helper()
	return s.call(tb, s.req(cmd, requestID, kv...))
}

func (s *tsession) registerDevice(tb testing.TB, name string) string {
	tb.Helper()
	reply := wantOK(tb, s.do(tb, wire.CmdRegisterDevice, nextID(), "devicename", name, "publickey", "pk-"+name))
	return field(tb, reply, "deviceid")
}

func (s *tsession) invite(tb testing.TB, requestID, to, payload string) *wire.Reply {
	tb.Helper()
	return s.do(tb, wire.CmdSendInvitation, requestID, "spaceid", "7", "recipient", to, "payload", payload)
}

func (s *tsession) poll(tb testing.TB, dev string, max int) *wire.Reply {
	tb.Helper()
	return wantOK(tb, s.do(tb, wire.CmdGetMessages, "", "deviceid", dev, "max", strconv.Itoa(max)))
}

func (s *tsession) ack(tb testing.TB, dev string, ids ...string) int {
	tb.Helper()
	list := ""
	for i, id := range ids {
		if i > 0 {
			list += ","
		}
		list += id
	}
	reply := wantOK(tb, s.do(tb, wire.CmdAckMessages, "", "deviceid", dev, "ids", list))
	n, err := strconv.Atoi(field(tb, reply, "acked"))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func ids(ms []wire.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func payloads(ms []wire.Message) string {
	var b bytes.Buffer
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, m.Payload)
	}
	return b.String()
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
