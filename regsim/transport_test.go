package regsim

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

func TestTransportLatencyInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, hc := memCluster(t, Config{Users: 1})
		s := newSession(t, hc, c.URLs()[0], "user0")
		c.Instance(0).SetFault(Fault{Latency: 2 * time.Second})
		start := time.Now()
		if code, _, err := settings(context.Background(), hc, c.URLs()[0], s.session); code != 200 || err != nil {
			t.Fatalf("%d %v", code, err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("latency %v, want 2s of fake time", d)
		}
		c.Instance(0).SetFault(Fault{Latency: time.Second, Jitter: time.Second})
		for range 20 {
			start = time.Now()
			if code, _, err := settings(context.Background(), hc, c.URLs()[0], s.session); code != 200 || err != nil {
				t.Fatalf("%d %v", code, err)
			}
			if d := time.Since(start); d < time.Second || d >= 2*time.Second {
				t.Fatalf("latency %v outside [1s, 2s)", d)
			}
		}
	})
}

func TestTransportHangTimeoutInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := NewCluster(Config{Users: 1, Instances: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hc := &http.Client{Transport: c.Transport(), Timeout: 10 * time.Second}
		s := newSession(t, hc, c.URLs()[0], "user0")
		c.Instance(0).SetFault(Fault{Hang: true})
		start := time.Now()
		_, _, err = settings(context.Background(), hc, c.URLs()[0], s.session)
		if err == nil || time.Since(start) != 10*time.Second {
			t.Fatalf("hung request: %v after %v, want a timeout after 10s", err, time.Since(start))
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("error %v is not a timeout", err)
		}
		// Clearing in the middle of a hang: answered at once.
		res := goSettings(context.Background(), hc, c.URLs()[0], s.session)
		time.Sleep(3 * time.Second) // fake time: the request hangs meanwhile
		synctest.Wait()
		if c.Stalled() != 1 {
			t.Fatalf("stalled %d", c.Stalled())
		}
		start = time.Now()
		c.Instance(0).SetFault(Fault{})
		if r := <-res; r.code != 200 || r.err != nil || time.Since(start) != 0 {
			t.Fatalf("after clearing: %+v after %v", r, time.Since(start))
		}
		if cs := c.Counters(); cs.PeakConns != 1 || cs.OpenConns != 0 {
			t.Fatalf("conns open %d peak %d", cs.OpenConns, cs.PeakConns)
		}
	})
}

func TestTransportSessionExpiryInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, hc := memCluster(t, Config{Users: 1, SessionTTL: time.Hour}) // Now: the bubble's time.Now
		s := newSession(t, hc, c.URLs()[0], "user0")
		time.Sleep(time.Hour)
		wantException(t, s.do(t, wire.CmdGetSettings, ""), wire.CodeSessionExpired)
	})
}

func TestTransportErrors(t *testing.T) {
	c, hc := memCluster(t, Config{Users: 1})
	tr := c.Transport()
	t.Run("unknown host", func(t *testing.T) {
		_, err := hc.Get("http://nowhere.test/healthz")
		var dns *net.DNSError
		if !errors.As(err, &dns) || !dns.IsNotFound {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("scheme", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "ftp://instance0.regsim.test/healthz", nil)
		if _, err := tr.RoundTrip(req); err == nil {
			t.Fatal("ftp accepted")
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		body := &closeCounter{Reader: strings.NewReader("<teamdrive/>")}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.URLs()[0]+wire.APIPath, body)
		if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		if body.closed != 1 {
			t.Fatalf("request body closed %d times", body.closed)
		}
	})
	t.Run("body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, c.URLs()[0]+wire.HealthPath, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.ContentLength != 3 || resp.Header.Get(InstanceHeader) != "0" {
			t.Fatalf("response %+v", resp)
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
			t.Fatal("read after Close succeeded")
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		resp, err := hc.Head(c.URLs()[0] + wire.HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) != 0 {
			t.Fatalf("HEAD: %d %q", resp.StatusCode, b)
		}
	})
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestTransportRoutesStartedCluster(t *testing.T) {
	c, _ := startCluster(t, Config{Instances: 2, Users: 1})
	hc := &http.Client{Transport: c.Transport()}
	for i, u := range c.URLs() {
		resp, err := hc.Get(u + wire.HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get(InstanceHeader); got != []string{"0", "1"}[i] {
			t.Fatalf("%s answered by instance %s", u, got)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	const users, rounds = 8, 25
	modes(t, Config{Instances: 3, Users: users}, func(t *testing.T, c *Cluster, hc *http.Client) {
		sessions := make([]*tsession, users)
		devices := make([]string, users)
		for i := range sessions {
			sessions[i] = newSession(t, hc, c.URLs()[i%3], "user"+itoa(i))
			devices[i] = sessions[i].registerDevice(t, "d")
		}
		var wg sync.WaitGroup
		errs := make(chan error, users*rounds)
		for i, s := range sessions {
			wg.Go(func() {
				for r := range rounds {
					// Each user invites the next one, twice with the same
					// requestid, through different instances.
					rid := "u" + itoa(i) + "-" + itoa(r)
					to := "user" + itoa((i+1)%users)
					for k := range 2 {
						s2 := *s
						s2.apiClient = &apiClient{hc: hc, base: c.URLs()[(i+r+k)%3]}
						_, body, err := s2.raw(s2.req(wire.CmdSendInvitation, rid, "spaceid", "1", "recipient", to, "payload", rid))
						if err != nil {
							errs <- err
							return
						}
						if rep, err := wire.DecodeReply(body); err != nil || rep.Exception != nil {
							errs <- errors.New("send failed: " + string(body))
							return
						}
					}
					// Meanwhile poll and ack.
					_, body, err := s.raw(s.req(wire.CmdGetMessages, "", "deviceid", devices[i], "max", "5"))
					if err != nil {
						errs <- err
						return
					}
					rep, err := wire.DecodeReply(body)
					if err != nil || rep.Exception != nil {
						errs <- errors.New("poll failed: " + string(body))
						return
					}
					if len(rep.Messages) > 0 {
						_, _, err = s.raw(s.req(wire.CmdAckMessages, "", "deviceid", devices[i], "ids", strings.Join(ids(rep.Messages), ",")))
						if err != nil {
							errs <- err
							return
						}
					}
					_ = c.Counters() // snapshots race with traffic
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		cs := c.Counters()
		if cs.MessagesStored != users*rounds || cs.DuplicateRequestIDs != users*rounds {
			t.Fatalf("stored %d duplicates %d, want %d each", cs.MessagesStored, cs.DuplicateRequestIDs, users*rounds)
		}
		// Drain: every device ends up with exactly its user's messages.
		for i, s := range sessions {
			seen := map[string]bool{}
			for range rounds + 1 {
				ms := s.poll(t, devices[i], 100).Messages
				if len(ms) == 0 {
					break
				}
				s.ack(t, devices[i], ids(ms)...)
			}
			for _, m := range c.Messages(s.user) {
				seen[m.Payload] = true
			}
			if len(seen) != rounds {
				t.Fatalf("%s holds %d distinct invitations, want %d", s.user, len(seen), rounds)
			}
		}
		if cs := c.Counters(); cs.MessagesAcked != users*rounds || cs.MessagesDelivered != users*rounds {
			t.Fatalf("acked %d delivered %d", cs.MessagesAcked, cs.MessagesDelivered)
		}
	})
}

func itoa(i int) string { return strconv.Itoa(i) }
