package regsim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// modes runs a test against a started cluster (real loopback sockets) and
// against NewCluster through Transport.
func modes(t *testing.T, cfg Config, f func(t *testing.T, c *Cluster, hc *http.Client)) {
	t.Run("sockets", func(t *testing.T) {
		c, hc := startCluster(t, cfg)
		f(t, c, hc)
	})
	t.Run("memory", func(t *testing.T) {
		c, hc := memCluster(t, cfg)
		f(t, c, hc)
	})
}

// settings sends getsettings with session s to base and returns the HTTP
// status (0 on a transport error), the decoded reply (nil unless 200) and
// the error.
func settings(ctx context.Context, hc *http.Client, base, s string) (int, *wire.Reply, error) {
	body, _ := wire.EncodeRequest(&wire.Request{Command: wire.CmdGetSettings, Session: s})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+wire.APIPath, bytesReader(body))
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, nil
	}
	r, err := wire.DecodeReply(b)
	return resp.StatusCode, r, err
}

func TestFaultDown(t *testing.T) {
	modes(t, Config{Instances: 2, Users: 1}, func(t *testing.T, c *Cluster, hc *http.Client) {
		s := newSession(t, hc, c.URLs()[0], "user0")
		ctx := context.Background()
		if code, _, err := settings(ctx, hc, c.URLs()[0], s.session); code != 200 || err != nil {
			t.Fatalf("before: %d %v", code, err)
		}
		c.Instance(0).SetFault(Fault{Down: true})
		if !c.Instance(0).Fault().Down {
			t.Fatal("Fault() does not report Down")
		}
		// The client's keep-alive connection was closed too: it fails.
		if _, _, err := settings(ctx, hc, c.URLs()[0], s.session); err == nil {
			t.Fatal("request to a downed instance succeeded")
		}
		// A fresh connection is refused.
		fresh := &http.Client{Transport: freshTransport(c, hc)}
		_, _, err := settings(ctx, fresh, c.URLs()[0], s.session)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("fresh connection: %v, want connection refused", err)
		}
		// The other instance serves.
		if code, _, err := settings(ctx, hc, c.URLs()[1], s.session); code != 200 || err != nil {
			t.Fatalf("instance 1: %d %v", code, err)
		}
		// Clearing restores at once, on the same URL.
		c.Instance(0).SetFault(Fault{})
		if code, r, err := settings(ctx, hc, c.URLs()[0], s.session); code != 200 || err != nil || r.Exception != nil {
			t.Fatalf("after clearing: %d %v %v", code, r, err)
		}
		if u := c.Instance(0).URL(); u != c.URLs()[0] {
			t.Fatalf("URL changed: %s, was %s", u, c.URLs()[0])
		}
	})
}

// freshTransport returns a round tripper with no pooled connections.
func freshTransport(c *Cluster, hc *http.Client) http.RoundTripper {
	if _, ok := hc.Transport.(*http.Transport); ok {
		return &http.Transport{DisableKeepAlives: true}
	}
	return c.Transport()
}

func TestFaultUnavailable(t *testing.T) {
	modes(t, Config{Users: 1}, func(t *testing.T, c *Cluster, hc *http.Client) {
		s := newSession(t, hc, c.URLs()[0], "user0")
		c.Instance(0).SetFault(Fault{Unavailable: true, RetryAfter: 2500 * time.Millisecond})
		body, _ := wire.EncodeRequest(&wire.Request{Command: wire.CmdGetSettings, Session: s.session})
		resp, err := hc.Post(c.URLs()[0]+wire.APIPath, wire.ContentType, bytesReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" || resp.Header.Get(InstanceHeader) != "0" {
			t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
		}
		c.Instance(0).SetFault(Fault{Unavailable: true})
		resp, err = hc.Post(c.URLs()[0]+wire.APIPath, wire.ContentType, bytesReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "" {
			t.Fatalf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		c.Instance(0).SetFault(Fault{})
		if code, _, err := settings(context.Background(), hc, c.URLs()[0], s.session); code != 200 || err != nil {
			t.Fatalf("after clearing: %d %v", code, err)
		}
		if n := c.Counters().Replies["503"]; n != 2 {
			t.Fatalf("503 replies: %d", n)
		}
	})
}

func TestFaultErrorRate(t *testing.T) {
	modes(t, Config{Users: 1}, func(t *testing.T, c *Cluster, hc *http.Client) {
		s := newSession(t, hc, c.URLs()[0], "user0")
		ctx := context.Background()
		c.Instance(0).SetFault(Fault{ErrorRate: 1})
		for range 5 {
			if code, _, _ := settings(ctx, hc, c.URLs()[0], s.session); code != 500 {
				t.Fatalf("rate 1: status %d", code)
			}
		}
		// With rate 0.5, 200 requests that all fall the same way would be a
		// 1 in 2^199 event.
		c.Instance(0).SetFault(Fault{ErrorRate: 0.5})
		seen := map[int]int{}
		for range 200 {
			code, _, _ := settings(ctx, hc, c.URLs()[0], s.session)
			seen[code]++
		}
		if seen[200] == 0 || seen[500] == 0 || seen[200]+seen[500] != 200 {
			t.Fatalf("rate 0.5: %v", seen)
		}
		c.Instance(0).SetFault(Fault{ErrorRate: 7}) // clamped to 1
		if f := c.Instance(0).Fault(); f.ErrorRate != 1 {
			t.Fatalf("ErrorRate not clamped: %v", f)
		}
		c.Instance(0).SetFault(Fault{})
		for range 20 {
			if code, _, _ := settings(ctx, hc, c.URLs()[0], s.session); code != 200 {
				t.Fatalf("after clearing: %d", code)
			}
		}
	})
}

type result struct {
	code  int
	reply *wire.Reply
	err   error
}

func goSettings(ctx context.Context, hc *http.Client, base, s string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		code, r, err := settings(ctx, hc, base, s)
		ch <- result{code, r, err}
	}()
	return ch
}

func TestFaultHang(t *testing.T) {
	modes(t, Config{Users: 1}, func(t *testing.T, c *Cluster, hc *http.Client) {
		s := newSession(t, hc, c.URLs()[0], "user0")
		ctx := context.Background()
		c.Instance(0).SetFault(Fault{Hang: true})

		// Held until cleared, then served.
		res := goSettings(ctx, hc, c.URLs()[0], s.session)
		if err := c.WaitStalled(ctx, 1); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-res:
			t.Fatalf("hung request answered: %+v", r)
		default:
		}
		c.Instance(0).SetFault(Fault{})
		if r := <-res; r.code != 200 || r.err != nil || r.reply.Exception != nil {
			t.Fatalf("after clearing: %+v", r)
		}

		// Released when the client gives up.
		c.Instance(0).SetFault(Fault{Hang: true})
		cctx, cancel := context.WithCancel(ctx)
		res = goSettings(cctx, hc, c.URLs()[0], s.session)
		if err := c.WaitStalled(ctx, 1); err != nil {
			t.Fatal(err)
		}
		cancel()
		if r := <-res; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("canceled request: %+v", r)
		}
		if err := c.stalled.wait(ctx, func(n int) bool { return n == 0 }); err != nil {
			t.Fatal(err)
		}

		// Dropped when the instance goes down meanwhile.
		res = goSettings(ctx, hc, c.URLs()[0], s.session)
		if err := c.WaitStalled(ctx, 1); err != nil {
			t.Fatal(err)
		}
		c.Instance(0).SetFault(Fault{Hang: true, Down: true})
		if r := <-res; r.err == nil {
			t.Fatalf("hung request on a downed instance: %+v", r)
		}
		c.Instance(0).SetFault(Fault{})
		if n := c.Counters().Replies["hang"]; n != 3 {
			t.Fatalf("hang replies: %d", n)
		}
	})
}

func TestCloseReleasesHungRequests(t *testing.T) {
	modes(t, Config{Users: 1, Instances: 2}, func(t *testing.T, c *Cluster, hc *http.Client) {
		s := newSession(t, hc, c.URLs()[0], "user0")
		ctx := context.Background()
		c.Instance(0).SetFault(Fault{Hang: true})
		c.Instance(1).SetFault(Fault{Latency: time.Hour})
		res0 := goSettings(ctx, hc, c.URLs()[0], s.session)
		res1 := goSettings(ctx, hc, c.URLs()[1], s.session)
		if err := c.WaitStalled(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if r := <-res0; r.err == nil {
			t.Fatalf("hung request after Close: %+v", r)
		}
		if r := <-res1; r.err == nil {
			t.Fatalf("delayed request after Close: %+v", r)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, _, err := settings(ctx, hc, c.URLs()[0], s.session); err == nil {
			t.Fatal("request after Close succeeded")
		}
		if err := c.Instance(0).SetFaultErr(Fault{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("SetFaultErr after Close: %v", err)
		}
	})
}

func TestFaultLatencyClearedEarly(t *testing.T) {
	modes(t, Config{Users: 1}, func(t *testing.T, c *Cluster, hc *http.Client) {
		s := newSession(t, hc, c.URLs()[0], "user0")
		ctx := context.Background()
		c.Instance(0).SetFault(Fault{Latency: time.Hour, Jitter: time.Hour})
		res := goSettings(ctx, hc, c.URLs()[0], s.session)
		if err := c.WaitStalled(ctx, 1); err != nil {
			t.Fatal(err)
		}
		c.Instance(0).SetFault(Fault{})
		if r := <-res; r.code != 200 || r.err != nil {
			t.Fatalf("after clearing: %+v", r)
		}
		// A small latency still answers.
		c.Instance(0).SetFault(Fault{Latency: time.Millisecond, Jitter: time.Millisecond})
		if code, _, err := settings(ctx, hc, c.URLs()[0], s.session); code != 200 || err != nil {
			t.Fatalf("with 1 ms latency: %d %v", code, err)
		}
	})
}

func TestFaultReset(t *testing.T) {
	modes(t, Config{Users: 2}, func(t *testing.T, c *Cluster, hc *http.Client) {
		s := newSession(t, hc, c.URLs()[0], "user0")
		c.Instance(0).SetFault(Fault{Reset: true})
		r := s.req(wire.CmdSendInvitation, "lost-reply", "spaceid", "1", "recipient", "user1", "payload", "cA==")
		status, body, err := s.raw(r)
		if err == nil {
			t.Fatalf("reset reply read whole: %d %q", status, body)
		}
		if _, isMem := hc.Transport.(*memTransport); isMem && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("in-memory reset: %v, want ECONNRESET", err)
		}
		// The command was applied before the connection broke ...
		if n := len(c.Messages("user1")); n != 1 {
			t.Fatalf("stored %d", n)
		}
		c.Instance(0).SetFault(Fault{})
		// ... so the client's replay is absorbed.
		wantOK(t, s.call(t, r))
		cs := c.Counters()
		if n := len(c.Messages("user1")); n != 1 || cs.DuplicateRequestIDs != 1 || cs.Replies["reset"] != 1 {
			t.Fatalf("after replay: stored %d, counters %+v", n, cs)
		}
		// healthz is cut as well.
		c.Instance(0).SetFault(Fault{Reset: true})
		resp, err := hc.Get(c.URLs()[0] + wire.HealthPath)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Fatal("healthz read whole under Reset")
		}
	})
}

func TestStoreFault(t *testing.T) {
	modes(t, Config{Instances: 2, Users: 2}, func(t *testing.T, c *Cluster, hc *http.Client) {
		s := newSession(t, hc, c.URLs()[0], "user0")
		dev := s.registerDevice(t, "d")
		c.SetStoreFault(true)
		if !c.StoreFault() {
			t.Fatal("StoreFault() false")
		}
		reqs := []*wire.Request{
			{Command: wire.CmdRegisterUser, RequestID: nextID(), Fields: []wire.Field{
				{Name: "username", Value: "x"}, {Name: "email", Value: "e"}, {Name: "password", Value: "p"}}},
			{Command: wire.CmdLoginUser, Fields: []wire.Field{{Name: "username", Value: "user0"}, {Name: "password", Value: DefaultPassword}}},
			s.req(wire.CmdRegisterDevice, nextID(), "devicename", "d", "publickey", "k"),
			s.req(wire.CmdSendInvitation, nextID(), "spaceid", "1", "recipient", "user1", "payload", ""),
			s.req(wire.CmdSendComment, nextID(), "spaceid", "1", "fileid", "2", "text", "t", "recipients", "user1"),
			s.req(wire.CmdGetMessages, "", "deviceid", dev),
			s.req(wire.CmdAckMessages, "", "deviceid", dev, "ids", "1"),
			s.req(wire.CmdChangePassword, nextID(), "oldpassword", DefaultPassword, "newpassword", "n"),
			{Command: wire.CmdSendPassword, Fields: []wire.Field{{Name: "username", Value: "user0"}}},
			s.req(wire.CmdSetKeyRepository, nextID(), "enabled", "true"),
			s.req(wire.CmdGetSettings, ""),
		}
		for i, r := range reqs {
			s.base = c.URLs()[i%2]
			reply := s.call(t, r)
			wantException(t, reply, wire.CodeDatabase)
			if reply.Exception.SecondaryCode != wire.SecondaryMySQLConnect {
				t.Fatalf("%s: secondary %q", r.Command, reply.Exception.SecondaryCode)
			}
		}
		for i := range 2 {
			resp, err := hc.Get(c.URLs()[i] + wire.HealthPath)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 503 {
				t.Fatalf("healthz %d during dbdown: %d", i, resp.StatusCode)
			}
		}
		c.SetStoreFault(false)
		wantOK(t, s.do(t, wire.CmdGetSettings, ""))
		if n := c.Counters().Exceptions[strconv.Itoa(wire.CodeDatabase)]; n != int64(len(reqs)) {
			t.Fatalf("-12507 counted %d", n)
		}
	})
}
