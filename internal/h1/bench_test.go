package h1

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/regsim"
)

// apiPath is the Registration Server's API path.
const apiPath = "/pbas/td2as/api/api.htm"

// pollBody logs user0 in on srv, registers a device and returns the body
// of its getmessages poll: the request the load generator sends most.
func pollBody(b *testing.B, url string) []byte {
	b.Helper()
	call := func(r *wire.Request) *wire.Reply {
		body, err := wire.EncodeRequest(r)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := http.Post(url+apiPath, wire.ContentType, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		rep, err := wire.DecodeReply(out)
		if err != nil || rep.Exception != nil {
			b.Fatalf("%s: %v %v", r.Command, err, rep.Exception)
		}
		return rep
	}
	login := call(&wire.Request{Command: wire.CmdLoginUser, Fields: []wire.Field{{Name: "username", Value: "user0"}, {Name: "password", Value: regsim.DefaultPassword}}})
	session, _ := login.Get("session")
	dev := call(&wire.Request{Command: wire.CmdRegisterDevice, RequestID: "bench", Session: session,
		Fields: []wire.Field{{Name: "devicename", Value: "bench"}, {Name: "publickey", Value: "AA"}}})
	id, _ := dev.Get("deviceid")
	body, err := wire.EncodeRequest(&wire.Request{Command: wire.CmdGetMessages, Session: session,
		Fields: []wire.Field{{Name: "deviceid", Value: id}, {Name: "max", Value: "100"}}})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkRoundTrip: one getmessages poll (POST, reply read and closed)
// against a loopback regsim instance, through each transport, on one
// connection kept alive. The server's CPU is in the figure too.
func BenchmarkRoundTrip(b *testing.B) {
	cl, err := regsim.NewCluster(regsim.Config{Instances: 1, Users: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	srv := httptest.NewServer(cl.Instance(0))
	defer srv.Close()
	body := pollBody(b, srv.URL)
	for name, rt := range map[string]http.RoundTripper{
		"lean":     &Transport{},
		"net/http": &http.Transport{DisableCompression: true, ReadBufferSize: 1 << 10, WriteBufferSize: 1 << 10},
	} {
		b.Run(name, func(b *testing.B) {
			defer rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			buf := make([]byte, 4<<10)
			b.ReportAllocs()
			for b.Loop() {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+apiPath, bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", wire.ContentType)
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
