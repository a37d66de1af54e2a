//go:build linux

package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/regsim"
)

// The benchmarks of this file measure the two fleet figures of the load
// generator: CPU per request through the full SDK, and memory per simulated
// client. Both run the server (cmd/regsim) as a child process, built for the
// benchmark, so that its CPU and memory are not counted as the client's;
// BenchmarkSDKRequestCPU also runs against an in-process cluster for
// comparison. They read /proc, hence linux only.
//
//	go test -run '^$' -bench SDKRequestCPU -benchtime 20000x ./loadgen
//	LOADGEN_FLEET_BENCH=1 go test -run '^$' -bench FleetMemory -benchtime 1x -timeout 10m ./loadgen

// regsimChild is cmd/regsim running in a child process.
type regsimChild struct {
	cmd *exec.Cmd
	out io.Reader
	url string
}

// startRegsimChild builds cmd/regsim into a temporary directory and starts
// it on a loopback port with users seeded user0 … user(users-1).
func startRegsimChild(b *testing.B, users int, poll time.Duration) *regsimChild {
	b.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		b.Skip("the go command is not on PATH: cannot build cmd/regsim")
	}
	bin := filepath.Join(b.TempDir(), "regsim")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/regfleet/regfleet/cmd/regsim")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build cmd/regsim: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--addr", "127.0.0.1:0", "--control-addr", "-",
		"--users", strconv.Itoa(users), "--poll-interval", poll.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &regsimChild{cmd: cmd, out: out}
	b.Cleanup(c.stop)
	// "instance 0: http://127.0.0.1:PORT (API: …)"
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[0] == "instance" && f[1] == "0:" {
			c.url = f[2]
			break
		}
	}
	if c.url == "" {
		b.Fatalf("regsim printed no URL (%v)", sc.Err())
	}
	return c
}

func (c *regsimChild) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	_, _ = io.Copy(io.Discard, c.out)
	_ = c.cmd.Wait()
}

// cpu returns the CPU time (user + system) the child has used, from
// /proc/PID/stat in clock ticks of 10 ms (USER_HZ is 100 on Linux).
func (c *regsimChild) cpu(b *testing.B) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the parenthesised command name: state is field 3,
	// utime field 14, stime field 15.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// rssKiB returns VmRSS of /proc/PID/status ("self" for this process).
func rssKiB(b *testing.B, pid string) int64 {
	raw, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no VmRSS in /proc/" + pid + "/status")
	return 0
}

// openFiles counts this process's open file descriptors.
func openFiles() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// benchClients returns n logged-in clients with a registered device, each
// with its own connection pool of the transport kind, and closes them at
// the end of b.
func benchClients(b *testing.B, urls []string, n int, kind string) []*client.Client {
	b.Helper()
	ctx := b.Context()
	cs := make([]*client.Client, n)
	for i := range cs {
		tr := newTransport(kind, &net.Dialer{}, nil, nil, 2, 0, 0)
		c, err := client.New(client.Config{
			URLs:       urls,
			Username:   "user" + strconv.Itoa(i),
			Password:   regsim.DefaultPassword,
			HTTPClient: &http.Client{Transport: tr},
			Seed:       uint64(i + 1),
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close(); tr.CloseIdleConnections() })
		if _, err := c.Login(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := c.RegisterDevice(ctx, "bench", "pk"); err != nil {
			b.Fatal(err)
		}
		cs[i] = c
	}
	return cs
}

// closedLoop makes b.N calls in total, call(ctx, i) for each of n
// clients calling in a closed loop (the next call when the previous one
// returned), and reports the process's CPU per request and, when child is
// set, the server's.
func closedLoop(b *testing.B, n int, call func(ctx context.Context, i int) error, child *regsimChild) {
	ctx := b.Context()
	var left, failed atomic.Int64
	left.Store(int64(b.N))
	var firstErr atomic.Value
	var srv0 time.Duration
	if child != nil {
		srv0 = child.cpu(b)
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := call(ctx, i); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d calls failed, first: %v", n, b.N, firstErr.Load())
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/req")
	if child != nil {
		srv := child.cpu(b) - srv0
		b.ReportMetric(float64(srv.Microseconds())/float64(b.N), "server-cpu-µs/req")
	}
}

// sdkCalls is closedLoop's call for the clients cs: GetMessages.
func sdkCalls(cs []*client.Client) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		_, err := cs[i].GetMessages(ctx, 0)
		return err
	}
}

// bareClient makes the same getmessages round trip as the SDK with net/http
// alone: encode, POST, read the bounded reply, decode; no retries, endpoint
// choice or reachability state. It is the floor the SDK's figure stands on.
type bareClient struct {
	hc           *http.Client
	url          string
	session, dev string
}

// newBareClients logs n users in and registers a device each, with bare
// requests, each client on its own transport of the kind.
func newBareClients(b *testing.B, url string, n int, kind string) []*bareClient {
	b.Helper()
	cs := make([]*bareClient, n)
	for i := range cs {
		tr := newTransport(kind, &net.Dialer{}, nil, nil, 2, 0, 0)
		b.Cleanup(tr.CloseIdleConnections)
		cs[i] = &bareClient{hc: &http.Client{Transport: tr}, url: url}
		cs[i].logIn(b, i)
	}
	return cs
}

// logIn logs c in as user i and registers a device for it.
func (c *bareClient) logIn(b *testing.B, i int) {
	b.Helper()
	rep, err := c.call(b.Context(), &wire.Request{Command: wire.CmdLoginUser, Fields: []wire.Field{
		{Name: "username", Value: "user" + strconv.Itoa(i)}, {Name: "password", Value: regsim.DefaultPassword}}})
	if err != nil {
		b.Fatal(err)
	}
	c.session, _ = rep.Get("session")
	rep, err = c.call(b.Context(), &wire.Request{Command: wire.CmdRegisterDevice, Session: c.session, RequestID: "bench-" + strconv.Itoa(i), Fields: []wire.Field{
		{Name: "devicename", Value: "bench"}, {Name: "publickey", Value: "pk"}}})
	if err != nil {
		b.Fatal(err)
	}
	c.dev, _ = rep.Get("deviceid")
}

func (c *bareClient) call(ctx context.Context, r *wire.Request) (*wire.Reply, error) {
	r.RequestTime = time.Now().Unix()
	body, err := wire.EncodeRequest(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+wire.APIPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", wire.ContentType)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxBodySize+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	rep, err := wire.DecodeReply(data)
	if err != nil {
		return nil, err
	}
	if rep.Exception != nil {
		return nil, rep.Exception
	}
	return rep, nil
}

// bareCalls is closedLoop's call for the bare clients cs: getmessages.
func bareCalls(cs []*bareClient) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		c := cs[i]
		_, err := c.call(ctx, &wire.Request{Command: wire.CmdGetMessages, Session: c.session,
			Fields: []wire.Field{{Name: "deviceid", Value: c.dev}, {Name: "max", Value: "0"}}})
		return err
	}
}

// BenchmarkSDKRequestCPU measures the CPU time per request of the full SDK
// (client.Client.GetMessages: checksum, XML encode and decode, retry and
// endpoint bookkeeping, the HTTP transport) in closed loops of 8 clients
// against regsim on loopback, through each transport of the load
// generator (transport=lean, the default, and transport=net-http). With
// regsim=child the server runs in a child process and cpu-µs/req is the
// client side alone (the benchmark harness included); server-cpu-µs/req is
// the server's, at 10 ms resolution. With regsim=inproc both run in this
// process and cpu-µs/req is their sum. bare=… makes the same round trips
// with the transport alone (encode, POST, read, decode): the floor under
// the SDK's figure, measured in the same run.
// Use a fixed -benchtime such as 20000x: CPU per request is what it
// reports, wall time per request depends on the other load of the machine.
func BenchmarkSDKRequestCPU(b *testing.B) {
	const clients = 8
	kinds := []struct{ name, kind string }{{"lean", TransportLean}, {"net-http", TransportNetHTTP}}
	child := startRegsimChild(b, clients, time.Minute)
	for _, k := range kinds {
		cs := benchClients(b, []string{child.url}, clients, k.kind)
		b.Run("regsim=child/transport="+k.name, func(b *testing.B) { closedLoop(b, clients, sdkCalls(cs), child) })
	}
	for _, k := range kinds {
		bare := newBareClients(b, child.url, clients, k.kind)
		b.Run("regsim=child/bare="+k.name, func(b *testing.B) { closedLoop(b, clients, bareCalls(bare), child) })
	}

	cl, err := regsim.Start(regsim.Config{Users: clients}, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	for _, k := range kinds {
		inproc := benchClients(b, cl.URLs(), clients, k.kind)
		b.Run("regsim=inproc/transport="+k.name, func(b *testing.B) { closedLoop(b, clients, sdkCalls(inproc), nil) })
	}
}

// BenchmarkFleetMemory runs a fleet of simulated clients (the engine of
// Run, each client with its own connection pool unless told otherwise, 10 s poll interval,
// default invitation rate) against regsim in a child process, and reports
// the resident memory per client once every client has logged in and
// polled at least once, its breakdown (Go heap in use, the live heap after
// a collection, goroutine stacks, goroutines and open files per client),
// and the schedule lag p99 of the
// invitations. It takes about a minute, so it runs only with
// LOADGEN_FLEET_BENCH=1; LOADGEN_FLEET_CLIENTS sets the fleet (default
// 10000), LOADGEN_FLEET_SHARED=1 the fleet's shared connection pool (the
// default of cmd/loadgen) instead of a pool per client,
// LOADGEN_FLEET_TRANSPORT=net/http net/http's transport instead of the
// lean one, LOADGEN_FLEET_HEAPPROFILE a file for a heap profile and
// LOADGEN_FLEET_GOROUTINES one for the goroutine stacks (text), both taken
// at the measurement. It runs once whatever b.N is: use -benchtime 1x.
//
// It bypasses Run's open-file estimate (two descriptors per client and
// endpoint, so 10,000 clients ask for 20,256) and relies on the soft limit
// already in force.
func BenchmarkFleetMemory(b *testing.B) {
	if os.Getenv("LOADGEN_FLEET_BENCH") == "" {
		b.Skip("set LOADGEN_FLEET_BENCH=1 to run (about a minute, one descriptor per client)")
	}
	clients := 10_000
	if s := os.Getenv("LOADGEN_FLEET_CLIENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			b.Fatalf("LOADGEN_FLEET_CLIENTS=%q: want a count ≥ 2", s)
		}
		clients = n
	}
	const (
		poll    = 10 * time.Second
		rampUp  = 20 * time.Second
		measure = rampUp + poll + 5*time.Second // every client has polled
		total   = measure + 10*time.Second
	)
	child := startRegsimChild(b, clients, poll)
	childPid := strconv.Itoa(child.cmd.Process.Pid)

	cfg := Config{
		URLs:          []string{child.url},
		Clients:       clients,
		RampUp:        rampUp,
		Duration:      total,
		PollInterval:  poll,
		ConnPerClient: os.Getenv("LOADGEN_FLEET_SHARED") == "",
		Transport:     os.Getenv("LOADGEN_FLEET_TRANSPORT"),
		Seed:          1,
		DrainTimeout:  10 * time.Second,
	}
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		b.Fatal(err)
	}
	e := newEngine(cfg)
	e.urls = cfg.URLs
	if !cfg.ConnPerClient {
		e.shared = newTransport(cfg.Transport, e.dial, nil, &e.bufs, clients, 0, 0) // what setup, bypassed here, would make
	}
	defer e.shutdown()

	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	rss0, srvRSS0 := rssKiB(b, "self"), rssKiB(b, childPid)
	g0, fd0 := runtime.NumGoroutine(), openFiles()

	b.ResetTimer()
	start := time.Now()
	var report *Report
	var runErr error
	var wg sync.WaitGroup
	wg.Go(func() { report, runErr = e.run(context.Background()) })

	time.Sleep(time.Until(start.Add(measure))) // a benchmark's wait, not a test's
	rss1, srvRSS1 := rssKiB(b, "self"), rssKiB(b, childPid)
	g1, fd1 := runtime.NumGoroutine(), openFiles()
	runtime.ReadMemStats(&ms1)
	e.mu.Lock()
	running := len(e.sims)
	e.mu.Unlock()
	// The live heap, after a collection: what the fleet holds, without
	// the garbage the collector lets accumulate between cycles (which
	// VmRSS and HeapInuse above include, as a real run does).
	runtime.GC()
	var msLive runtime.MemStats
	runtime.ReadMemStats(&msLive)
	if path := os.Getenv("LOADGEN_FLEET_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	if path := os.Getenv("LOADGEN_FLEET_GOROUTINES"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Lookup("goroutine").WriteTo(f, 1); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	wg.Wait()
	b.StopTimer()
	if runErr != nil {
		b.Fatal(runErr)
	}
	if running != clients {
		b.Fatalf("%d of %d clients running at the measurement", running, clients)
	}
	per := func(v float64) float64 { return v / float64(clients) }
	b.ReportMetric(per(float64(rss1-rss0)), "rss-KiB/client")
	b.ReportMetric(per(float64(ms1.HeapInuse)-float64(ms0.HeapInuse))/1024, "heap-KiB/client")
	b.ReportMetric(per(float64(msLive.HeapAlloc)-float64(ms0.HeapAlloc))/1024, "live-heap-KiB/client")
	b.ReportMetric(per(float64(ms1.StackInuse)-float64(ms0.StackInuse))/1024, "stack-KiB/client")
	b.ReportMetric(per(float64(g1-g0)), "goroutines/client")
	b.ReportMetric(per(float64(fd1-fd0)), "fds/client")
	b.ReportMetric(per(float64(srvRSS1-srvRSS0)), "server-rss-KiB/client")
	b.ReportMetric(float64(time.Duration(report.Schedule.Lag.P99).Microseconds())/1000, "lag-p99-ms")
	b.ReportMetric(float64(report.Schedule.Lag.Count), "lag-samples")
	var calls, errs int64
	for _, cs := range report.Commands {
		calls += cs.Requests
		errs += cs.Errors
	}
	b.ReportMetric(float64(calls), "calls")
	b.ReportMetric(float64(errs), "errors")
}
