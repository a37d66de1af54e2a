package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/regsim"
)

func pickClient(b *testing.B) *Client {
	urls := make([]string, 8)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://e%d.test", i)
	}
	c, err := New(Config{URLs: urls, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkPick(b *testing.B) {
	c := pickClient(b)
	b.ReportAllocs()
	for b.Loop() {
		if e := c.pool.pick(0, false); e == nil {
			b.Fatal("no endpoint")
		}
	}
}

func BenchmarkPickParallel(b *testing.B) {
	c := pickClient(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if e := c.pool.pick(0, false); e == nil {
				b.Fatal("no endpoint")
			}
		}
	})
}

// loopback starts a 3-instance regsim on loopback sockets.
func loopback(b *testing.B) *regsim.Cluster {
	cl, err := regsim.Start(regsim.Config{Instances: 3, Users: 2}, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	return cl
}

func benchTransport() *http.Transport {
	return &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}
}

func BenchmarkGetMessagesClient(b *testing.B) {
	cl := loopback(b)
	tr := benchTransport()
	defer tr.CloseIdleConnections()
	c, err := New(Config{URLs: cl.URLs(), Username: "user0", Password: regsim.DefaultPassword, HTTPClient: &http.Client{Transport: tr}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	setup(b, c)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetMessages(ctx, 10); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetMessagesBareHTTP does what one GetMessages does with a bare
// net/http client: encode, POST round robin, read the reply bounded, decode.
func BenchmarkGetMessagesBareHTTP(b *testing.B) {
	cl := loopback(b)
	bare := newBare(b, cl)
	b.ReportAllocs()
	for b.Loop() {
		bare.getMessages(b)
	}
}

// BenchmarkGetMessagesOverhead runs the client's GetMessages and the bare
// round trip of BenchmarkGetMessagesBareHTTP alternately (in ABBA order)
// against one cluster and times each, so that load from elsewhere on the
// machine hits both alike. It reports both times and the client's overhead.
func BenchmarkGetMessagesOverhead(b *testing.B) {
	cl := loopback(b)
	bare := newBare(b, cl)
	tr := benchTransport()
	defer tr.CloseIdleConnections()
	c, err := New(Config{URLs: cl.URLs(), Username: "user1", Password: regsim.DefaultPassword, HTTPClient: &http.Client{Transport: tr}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	setup(b, c)
	ctx := context.Background()
	var tc, tb time.Duration
	client := func() {
		t0 := time.Now()
		if _, err := c.GetMessages(ctx, 10); err != nil {
			b.Fatal(err)
		}
		tc += time.Since(t0)
	}
	plain := func() {
		t0 := time.Now()
		bare.getMessages(b)
		tb += time.Since(t0)
	}
	n := 0
	for b.Loop() {
		if n%2 == 0 {
			client()
			plain()
		} else {
			plain()
			client()
		}
		n++
	}
	b.ReportMetric(float64(tc.Nanoseconds())/float64(n), "client-ns/op")
	b.ReportMetric(float64(tb.Nanoseconds())/float64(n), "bare-ns/op")
	b.ReportMetric(100*(float64(tc)/float64(tb)-1), "overhead-%")
}

// bare is the bare net/http side of the getmessages benchmarks.
type bare struct {
	hc           *http.Client
	urls         []string
	session, dev string
	i            int
}

// newBare logs user0 in and registers a device through a Client, then
// returns a bare client with that session.
func newBare(b *testing.B, cl *regsim.Cluster) *bare {
	tr := benchTransport()
	b.Cleanup(tr.CloseIdleConnections)
	c, err := New(Config{URLs: cl.URLs(), Username: "user0", Password: regsim.DefaultPassword, Seed: 1, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		b.Fatal(err)
	}
	setup(b, c)
	session, dev := *c.session.Load(), c.DeviceID()
	c.Close()
	return &bare{hc: &http.Client{Transport: tr}, urls: cl.URLs(), session: session, dev: dev}
}

// getMessages is one getmessages round trip: encode, POST round robin,
// read the whole reply bounded, decode with wire.DecodeReply.
func (x *bare) getMessages(b *testing.B) {
	body, err := wire.EncodeRequest(&wire.Request{Command: wire.CmdGetMessages, RequestTime: time.Now().Unix(), Session: x.session,
		Fields: []wire.Field{{Name: "deviceid", Value: x.dev}, {Name: "max", Value: "10"}}})
	if err != nil {
		b.Fatal(err)
	}
	x.i++
	req, err := http.NewRequest(http.MethodPost, x.urls[x.i%len(x.urls)]+wire.APIPath, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", wire.ContentType)
	resp, err := x.hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxBodySize+1))
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatal(err, resp.StatusCode)
	}
	rep, err := wire.DecodeReply(data)
	if err != nil || rep.Exception != nil {
		b.Fatal(err, rep.Exception)
	}
}
