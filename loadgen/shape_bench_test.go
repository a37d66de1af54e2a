//go:build linux

package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// BenchmarkFleetShapeCPU measures what the shape of the load costs, without
// the SDK: 4,000 requests a second in all from LOADGEN_SHAPE_CLIENTS bare
// clients (default 4,000), each on a timer of its own (±20%), for 10 s,
// against regsim. A bare client makes the bare=lean round trip of
// BenchmarkSDKRequestCPU: encode, POST over the lean transport's shared
// pool, read, decode. It reports the process's CPU per request
// (getrusage, the benchmark's upkeep included). Its variants take the
// request apart from the way it is timed:
//
//   - LOADGEN_SHAPE_LOOP=1: a goroutine per client that waits on a timer
//     between polls, as fortio's threads do, instead of a timer that
//     starts a goroutine for each poll, as the SDK's poll loop does;
//   - LOADGEN_SHAPE_RAW=1: the request written as fixed bytes on a
//     connection per client and the reply read to its Content-Length, as
//     fortio makes it, without net/http or the lean transport;
//   - LOADGEN_SHAPE_BURST=1 (with LOOP): every client starts at once and
//     waits the same interval, so the polls come in bursts of all the
//     clients at once: fortio's default without -uniform.
//
// It runs once whatever b.N is: use -benchtime 1x; it needs
// LOADGEN_FLEET_BENCH=1. LOADGEN_SHAPE_URL names a regsim started apart,
// so that each side can have a core of its own:
//
//	taskset -c 1 regsim --users 20000 --addr 127.0.0.1:28395 --control-addr - --poll-interval 1ms &
//	go test -c -o /tmp/loadgen.test ./loadgen/
//	LOADGEN_FLEET_BENCH=1 LOADGEN_SHAPE_URL=http://127.0.0.1:28395 LOADGEN_SHAPE_CLIENTS=50 LOADGEN_SHAPE_LOOP=1 \
//	  LOADGEN_SHAPE_RAW=1 LOADGEN_SHAPE_BURST=1 taskset -c 0 /tmp/loadgen.test -test.run '^$' -test.bench FleetShapeCPU -test.benchtime 1x
func BenchmarkFleetShapeCPU(b *testing.B) {
	if os.Getenv("LOADGEN_FLEET_BENCH") == "" {
		b.Skip("set LOADGEN_FLEET_BENCH=1 to run (4,000 logins, then 10 s)")
	}
	clients := 4000
	if s := os.Getenv("LOADGEN_SHAPE_CLIENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 8 {
			b.Fatalf("LOADGEN_SHAPE_CLIENTS=%q: want a count ≥ 8", s)
		}
		clients = n
	}
	// LOADGEN_SHAPE_URL: a regsim started apart (pinned to another core
	// than this benchmark, as ../shared/bench/peers.sh pins its tools).
	url := os.Getenv("LOADGEN_SHAPE_URL")
	if url == "" {
		url = startRegsimChild(b, clients, time.Millisecond).url
	}
	shared := newTransport(TransportLean, &net.Dialer{}, nil, nil, clients, 0, 0)
	b.Cleanup(shared.CloseIdleConnections)
	hc := &http.Client{Transport: shared}
	cs := make([]*bareClient, clients)
	for i := range cs {
		cs[i] = &bareClient{hc: hc, url: url}
		cs[i].logIn(b, i)
	}
	poll := bareCalls(cs)
	if os.Getenv("LOADGEN_SHAPE_RAW") != "" {
		poll = rawCalls(b, url, cs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var calls, errs atomic.Int64
	var wg sync.WaitGroup
	cpu0 := rusageCPU(b)
	b.ResetTimer()
	// 4,000 requests a second in all, whatever the count of clients.
	interval := time.Duration(float64(time.Second) * float64(clients) / 4000)
	loop := os.Getenv("LOADGEN_SHAPE_LOOP") != ""
	// LOADGEN_SHAPE_BURST (with LOADGEN_SHAPE_LOOP): every client starts
	// at once and waits the same interval, so the polls come in bursts of
	// all the clients, as fortio's threads do without -uniform.
	burst := os.Getenv("LOADGEN_SHAPE_BURST") != ""
	for i := range clients {
		r := rand.New(rand.NewPCG(uint64(i), 7))
		wait := func() time.Duration { return time.Duration(float64(interval) * (0.8 + 0.4*r.Float64())) }
		first := time.Duration(r.Int64N(int64(interval)))
		if burst {
			wait = func() time.Duration { return interval }
			first = 0
		}
		once := func() {
			// A call cut by the end (the socket's deadline is the
			// context's, and may fire first) is not an error.
			if err := poll(ctx, i); err != nil && time.Until(deadline) > 100*time.Millisecond {
				errs.Add(1)
			}
			calls.Add(1)
		}
		if loop {
			// LOADGEN_SHAPE_LOOP: a goroutine per client that sleeps
			// between polls, as fortio's workers do.
			wg.Go(func() {
				t := time.NewTimer(first)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
					}
					once()
					t.Reset(wait())
				}
			})
			continue
		}
		var t *time.Timer
		var mu sync.Mutex
		wg.Add(1)
		tick := func() {
			if ctx.Err() != nil {
				wg.Done()
				return
			}
			once()
			mu.Lock()
			t.Reset(wait())
			mu.Unlock()
		}
		mu.Lock()
		t = time.AfterFunc(first, tick)
		mu.Unlock()
	}
	wg.Wait()
	b.StopTimer()
	cpu := rusageCPU(b) - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(calls.Load()), "cpu-µs/req")
	b.ReportMetric(float64(calls.Load()), "calls")
	b.ReportMetric(float64(errs.Load()), "errors")
}

// rusageCPU is this process's user and system time so far.
func rusageCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawCalls is the bare round trip without net/http or the lean transport,
// as fortio makes it: a connection per client, a request encoded once and
// written as it is, the reply read to its Content-Length
// (LOADGEN_SHAPE_RAW, to find where the cost of a request is).
func rawCalls(b *testing.B, url string, cs []*bareClient) func(context.Context, int) error {
	host := strings.TrimPrefix(url, "http://")
	type raw struct {
		c   net.Conn
		br  *bufio.Reader
		req []byte
	}
	rs := make([]*raw, len(cs))
	for i, c := range cs {
		body, err := wire.EncodeRequest(&wire.Request{Command: wire.CmdGetMessages, Session: c.session, RequestTime: time.Now().Unix(),
			Fields: []wire.Field{{Name: "deviceid", Value: c.dev}, {Name: "max", Value: "0"}}})
		if err != nil {
			b.Fatal(err)
		}
		nc, err := net.Dial("tcp", host)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nc.Close() })
		req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", wire.APIPath, host, wire.ContentType, len(body))
		rs[i] = &raw{c: nc, br: bufio.NewReaderSize(nc, 4096), req: append(req, body...)}
	}
	return func(_ context.Context, i int) error {
		r := rs[i]
		if _, err := r.c.Write(r.req); err != nil {
			return err
		}
		n := -1
		for {
			line, err := r.br.ReadSlice('\n')
			if err != nil {
				return err
			}
			if len(line) <= 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if n < 0 {
			return errors.New("no Content-Length")
		}
		_, err := r.br.Discard(n)
		return err
	}
}
