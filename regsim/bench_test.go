package regsim

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/regfleet/regfleet/internal/wire"
)

// BenchmarkGetMessages measures getmessages throughput over loopback with
// keep-alive: client and server share the process, so with -cpu 1 one core
// runs both sides (the figure is a lower bound of the server's own
// capacity). GOMAXPROCS is set by -cpu; RunParallel runs GOMAXPROCS×4
// clients, each on its own keep-alive connection.
//
//	go test -run '^$' -bench GetMessages -cpu 1,2 ./regsim/
func BenchmarkGetMessages(b *testing.B) {
	c, err := Start(Config{Users: 1}, StartOptions{ControlAddr: "-"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	s := newSession(b, hc, c.URLs()[0], "user0")
	dev := s.registerDevice(b, "bench")
	body, err := wire.EncodeRequest(&wire.Request{
		Command: wire.CmdGetMessages, RequestTime: 1, Session: s.session,
		Fields: []wire.Field{{Name: "deviceid", Value: dev}, {Name: "max", Value: "100"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	url := c.URLs()[0] + wire.APIPath
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 1024)
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", wire.ContentType)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			buf = buf[:0]
			for {
				if len(buf) == cap(buf) {
					buf = append(buf, 0)[:len(buf)]
				}
				n, err := resp.Body.Read(buf[len(buf):cap(buf)])
				buf = buf[:len(buf)+n]
				if err != nil {
					break
				}
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Contains(buf, []byte("<messages")) {
				b.Errorf("reply %d %q", resp.StatusCode, buf)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkGetMessagesRawClient is BenchmarkGetMessages with a minimal
// HTTP/1.1 client (pre-encoded request bytes on a keep-alive connection,
// http.ReadResponse). With -cpu 1 about 60% of the core then goes to the
// server (net/http's own per-request work and loopback syscalls included),
// so it bounds from below what one core of regsim serves to a load
// generator running elsewhere.
func BenchmarkGetMessagesRawClient(b *testing.B) {
	c, err := Start(Config{Users: 1}, StartOptions{ControlAddr: "-"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	s := newSession(b, &http.Client{Transport: tr}, c.URLs()[0], "user0")
	dev := s.registerDevice(b, "bench")
	body, err := wire.EncodeRequest(&wire.Request{
		Command: wire.CmdGetMessages, RequestTime: 1, Session: s.session,
		Fields: []wire.Field{{Name: "deviceid", Value: dev}, {Name: "max", Value: "100"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	host := strings.TrimPrefix(c.URLs()[0], "http://")
	raw := []byte("POST " + wire.APIPath + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: " + wire.ContentType +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		for pb.Next() {
			if _, err := conn.Write(raw); err != nil {
				b.Error(err)
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Error(err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Errorf("reply %d %v", resp.StatusCode, err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
