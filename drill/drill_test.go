//go:build drill && linux

package drill

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/regsim"
)

// Timing of the drill's clients and of its verdicts.
const (
	nLB, nRR, nPB = 100, 100, 40

	pollInterval    = 2 * time.Second // client PollInterval and the server's <pollinterval>
	pollMaxInterval = 4 * time.Second // longest wait of a Red client between two polls
	recoverySpread  = 3 * time.Second
	attemptTimeout  = 4 * time.Second
	ejectionTime    = time.Second
	maxEjectionTime = 4 * time.Second
	opInterval      = 2 * time.Second // mean wait between two GetSettings of one client

	steadyWindow = 5 * time.Second  // steady rate measured before each fault
	herdWindow   = 10 * time.Second // peak rate looked for after each repair
	faultWindow  = 5 * time.Second  // traffic observed while a one-instance fault holds

	// fastOffline bounds an online-only call refused while Red.
	fastOffline = 100 * time.Millisecond
	// maxHerd bounds the herd ratio after a repair.
	maxHerd = 3.0
)

// greenBound is how soon after a repair every Red client must be Green: a
// Red client polls again within pollMaxInterval (its longest backoff),
// HAProxy readmits a server after rise×inter, and 1 s of slack covers a
// loaded two-core machine.
func (d *drill) greenBound() time.Duration {
	c := d.lb.cfg
	return pollMaxInterval + time.Duration(c.Rise)*c.CheckInter + time.Second
}

// deliverBound is how soon after a repair every queued invitation must have
// reached its recipient: Green, then the drain starts within the recovery
// spread, then the recipient's next poll (interval +20% jitter), plus 2 s.
func (d *drill) deliverBound() time.Duration {
	return d.greenBound() + recoverySpread + pollInterval*6/5 + 2*time.Second
}

// drill holds the running system.
type drill struct {
	sim      *sim
	net      *network
	lb       *lb
	fleet    *fleet
	probeBin string
}

func TestDrill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	began := time.Now()
	dir := t.TempDir()
	rep := report{Started: began}

	bins, err := buildTools(ctx, dir, "regsim", "regprobe")
	if err != nil {
		t.Fatal(err)
	}
	d := &drill{probeBin: bins["regprobe"]}
	// Cleanups run last-in first-out: clients, HAProxy, relays, regsim.
	d.sim, err = startSim(ctx, bins["regsim"], dir, 2, nLB+nRR+nPB, pollInterval)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.sim.close(); err != nil {
			t.Errorf("regsim: %v\n%s", err, d.sim.proc.logTail(20))
		}
	})
	d.net, err = newNetwork(d.sim.addrs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.net.close)
	var relays, instURLs []string
	for _, l := range d.net.links {
		relays = append(relays, l.addr)
		instURLs = append(instURLs, l.URL())
	}
	d.lb, err = newLB(ctx, dir, relays)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.lb.close() })
	if err := d.lb.start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := waitUntil(ctx, 10*time.Second, 50*time.Millisecond, func() bool { return d.lb.allServers(ctx, true) }); !ok {
		t.Fatalf("HAProxy never saw both instances UP:\n%s", d.lb.proc.logTail(20))
	}
	d.fleet, err = startFleet(ctx, fleetConfig{
		LB: nLB, RR: nRR, PB: nPB,
		LBURL: d.lb.URL(), InstURLs: instURLs, Password: regsim.DefaultPassword,
		PollInterval: pollInterval, PollMaxInterval: pollMaxInterval, RecoverySpread: recoverySpread,
		AttemptTimeout: attemptTimeout, EjectionTime: ejectionTime, MaxEjectionTime: maxEjectionTime,
		OpInterval: opInterval,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.fleet.close)

	rep.Setup = []string{
		fmt.Sprintf("regsim: 1 process, 2 instances sharing one store, direct at %s, control %s", strings.Join(d.sim.addrs, ", "), d.sim.control),
		fmt.Sprintf("network: in-process toxiproxy relay per instance at %s", strings.Join(relays, ", ")),
		fmt.Sprintf("HAProxy at %s (stats %s): roundrobin, httpchk GET /healthz expect 200, inter %v fall %d rise %d, timeout server %v, retry-on conn-failure empty-response response-timeout, redispatch",
			d.lb.URL(), d.lb.cfg.StatsBind, d.lb.cfg.CheckInter, d.lb.cfg.Fall, d.lb.cfg.Rise, d.lb.cfg.ServerTimeout),
		fmt.Sprintf("clients: %d via HAProxy, %d round robin over both instances, %d primary instance 0 / backup instance 1; poll %v (max backoff %v), recovery spread %v, attempt timeout %v, ejection %v..%v, one GetSettings per client every %v±50%%",
			nLB, nRR, nPB, pollInterval, pollMaxInterval, recoverySpread, attemptTimeout, ejectionTime, maxEjectionTime, opInterval),
		fmt.Sprintf("bounds: all Green within %v of a repair, every queued invitation delivered within %v, herd ratio ≤ %.1f, online-only refusal ≤ %v",
			d.greenBound(), d.deliverBound(), maxHerd, fastOffline),
	}
	rep.Versions = []string{runtime.Version(), d.lb.version(ctx), "toxiproxy v2.5.0 (library, in-process)"}
	for _, s := range rep.Setup {
		t.Log(s)
	}

	scenarios := []struct {
		name string
		run  func(context.Context, string) result
	}{
		{"1a one instance: process stopped", d.instanceStopped},
		{"1b one instance: network cut", d.instanceCut},
		{"1c one instance: machine powered off", d.instancePoweredOff},
		{"2 both instances down", d.bothDown},
		{"3 database down", d.databaseDown},
		{"4 load balancer down", d.loadBalancerDown},
		{"5 primary/backup", d.primaryBackup},
	}
	for _, sc := range scenarios {
		t.Run(strings.Fields(sc.name)[0], func(t *testing.T) {
			start := time.Now()
			r := sc.run(ctx, sc.name)
			r.Seconds = time.Since(start).Seconds()
			r.finish()
			rep.Results = append(rep.Results, r)
			if !r.Pass {
				var bad []string
				for _, c := range r.Checks {
					if !c.OK {
						bad = append(bad, fmt.Sprintf("%s: want %s; got %s", c.Name, c.Want, c.Got))
					}
				}
				t.Errorf("%s: FAIL\n  %s", sc.name, strings.Join(bad, "\n  "))
			}
		})
	}

	rep.Seconds = time.Since(began).Seconds()
	rep.AllPass = len(rep.Results) == len(scenarios)
	for _, r := range rep.Results {
		rep.AllPass = rep.AllPass && r.Pass
	}
	var sb strings.Builder
	_ = writeTable(&sb, rep.Results)
	fmt.Fprintf(os.Stdout, "\n%s\nfailover drill: %d scenarios in %.0f s\n", sb.String(), len(rep.Results), rep.Seconds)
	out := os.Getenv("DRILL_OUT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "drill.json")
	}
	if err := writeJSON(out, rep); err != nil {
		t.Errorf("writing %s: %v", out, err)
	} else {
		t.Logf("JSON report: %s", out)
	}
}

// ---- the pieces the scenarios break ----

// stopInstance stops instance i's server process (regsim Fault{Down}) and
// makes its network address refuse connections.
func (d *drill) stopInstance(ctx context.Context, i int) error {
	if err := d.sim.setDown(ctx, i, true); err != nil {
		return err
	}
	return d.net.links[i].setRefused(true)
}

// startInstance undoes stopInstance: the process listens again, then its
// address accepts.
func (d *drill) startInstance(ctx context.Context, i int) error {
	if err := d.sim.setDown(ctx, i, false); err != nil {
		return err
	}
	return d.net.links[i].setRefused(false)
}

// powerOn boots a powered-off instance: its process starts afresh (every
// server-side connection gone), every connection through its network is
// dropped (a rebooted host knows none of them), and its network carries
// packets again.
func (d *drill) powerOn(ctx context.Context, i int) error {
	if err := d.sim.setDown(ctx, i, true); err != nil {
		return err
	}
	if err := d.net.links[i].reset(); err != nil {
		return err
	}
	if err := d.sim.setDown(ctx, i, false); err != nil {
		return err
	}
	return d.net.links[i].setCut(false)
}

// ---- shared steps ----

// steady waits until HAProxy has both servers UP, every client is Green and
// every primary/backup client is on its primary.
func (d *drill) steady(ctx context.Context, r *result) bool {
	took, ok := waitUntil(ctx, 30*time.Second, 100*time.Millisecond, func() bool {
		return d.fleet.all(client.Green) && d.fleet.tierCount(client.TierPrimary, groupPB) == nPB && d.lb.allServers(ctx, true)
	})
	if !ok {
		r.expect("steady state before the fault", "HAProxy servers UP, all clients Green, primary/backup clients on the primary", false,
			"not reached in %.0f s: %s", took.Seconds(), d.describe(ctx))
	}
	return ok
}

// describe summarizes the system for a failed check.
func (d *drill) describe(ctx context.Context) string {
	var parts []string
	for _, g := range allGroups {
		n, total := d.fleet.count(client.Green, g)
		parts = append(parts, fmt.Sprintf("%s %d/%d Green", g, n, total))
	}
	parts = append(parts, fmt.Sprintf("pb on primary %d/%d", d.fleet.tierCount(client.TierPrimary, groupPB), nPB))
	if s, err := d.lb.servers(ctx); err == nil {
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, k+" "+s[k])
		}
	} else {
		parts = append(parts, "HAProxy stats: "+err.Error())
	}
	return strings.Join(parts, ", ")
}

// infra records a failure of the drill's own machinery as a failed check.
func infra(r *result, err error) bool {
	if err != nil {
		r.expect("drill machinery", "no error", false, "%v", err)
		return true
	}
	return false
}

// nominalRate is the request rate the fleet makes when all is well: each
// client polls every pollInterval and calls GetSettings every opInterval
// on average.
func nominalRate() float64 {
	return float64(nLB+nRR+nPB) * (1/pollInterval.Seconds() + 1/opInterval.Seconds())
}

// keepsUp checks that the machine kept up in the steady window: when the
// request rate falls far below nominal (an overloaded host, a -race build
// on two busy cores), the drill's timing verdicts mean little, and this
// check says so instead of leaving a mysterious failure.
func (d *drill) keepsUp(ctx context.Context, r *result, from, to time.Time) {
	c, err := d.sim.counters(ctx)
	if infra(r, err) {
		return
	}
	got := rateSeries(c).mean(from, to)
	r.expect("the host keeps up (steady rate before the fault)", fmt.Sprintf("≥ 60%% of the nominal %.0f req/s", nominalRate()),
		got >= 0.6*nominalRate(), "%.0f req/s", got)
}

// baseline waits for the steady state, watches it for steadyWindow and
// checks that the host kept up. It returns when that window began, and
// false when the scenario must stop (a failed check is then recorded).
func (d *drill) baseline(ctx context.Context, r *result) (steadyFrom time.Time, ok bool) {
	if !d.steady(ctx, r) {
		return time.Time{}, false
	}
	steadyFrom = time.Now()
	if infra(r, observe(ctx, steadyWindow)) {
		return time.Time{}, false
	}
	d.keepsUp(ctx, r, steadyFrom, time.Now())
	return steadyFrom, true
}

// herd records the herd ratio of a repair at repairAt, the steady rate
// being measured in [steadyFrom, faultAt).
func (d *drill) herd(ctx context.Context, r *result, steadyFrom, faultAt, repairAt time.Time) {
	c, err := d.sim.counters(ctx)
	if infra(r, err) {
		return
	}
	ratio, steady, peak, ok := rateSeries(c).herdRatio(steadyFrom, faultAt, repairAt, repairAt.Add(herdWindow))
	if !ok {
		r.expect("herd ratio", "a steady rate to compare with", false, "no requests before the fault")
		return
	}
	r.HerdRatio = ptr(ratio)
	r.expect("no thundering herd after the repair", fmt.Sprintf("peak 1 s rate ≤ %.1f × steady", maxHerd), ratio <= maxHerd,
		"%.2f (peak %.0f req/s, steady %.0f req/s)", ratio, peak, steady)
}

// probeCheck runs the probe with the endpoint arguments args and checks
// its exit code (any of want), that its status line names the nature of
// the outage (every one of reasons), and that a monitoring system would
// read its output as written (nagios.ParseOutput).
func (d *drill) probeCheck(ctx context.Context, r *result, name string, reasons []string, want []int, args []string) {
	p := runProbe(ctx, d.probeBin, args...)
	ok := p.Format == nil
	codeOK := false
	for _, w := range want {
		codeOK = codeOK || p.Code == w
	}
	ok = ok && codeOK
	for _, reason := range reasons {
		ok = ok && strings.Contains(p.Line, reason)
	}
	names := []string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}
	var ws []string
	for _, w := range want {
		ws = append(ws, names[w])
	}
	wantS := strings.Join(ws, " or ")
	if len(reasons) > 0 {
		quoted := make([]string, len(reasons))
		for i, r := range reasons {
			quoted[i] = fmt.Sprintf("%q", r)
		}
		wantS += " naming " + strings.Join(quoted, " and ")
	}
	if p.Format != nil {
		r.expect(name, wantS+", output in the plugin format", ok, "exit %d: %s: %v", p.Code, p, p.Format)
		return
	}
	r.expect(name, wantS, ok, "exit %d: %s", p.Code, p)
}

// ---- scenario 1: one instance ----

const oneInstanceExpected = "LB drops inst0, traffic on inst1 only; 0 failed calls, all stay Green; probe: inst0 CRITICAL, service WARNING, both naming the outage; repaired: LB and traffic back, probe OK"

func (d *drill) instanceStopped(ctx context.Context, name string) result {
	return d.oneInstance(ctx, name,
		"regsim Fault{Down} on instance 0 through the control endpoint (listener and open connections closed: `service httpd stop`), "+
			"and instance 0's relay refuses connections as well (toxiproxy would otherwise turn the refusal into accept-then-close); repair: clear both",
		"connection refused",
		func(ctx context.Context) error { return d.stopInstance(ctx, 0) },
		func(ctx context.Context) error { return d.startInstance(ctx, 0) })
}

func (d *drill) instanceCut(ctx context.Context, name string) result {
	return d.oneInstance(ctx, name,
		"toxiproxy timeout toxic (timeout 0) both ways on instance 0's relay: every byte dropped, no RST or FIN, the process keeps running; "+
			"HAProxy, clients and probe all go through the relay. Unlike a pulled cable, TCP handshakes still complete at the relay, "+
			"so connects succeed and requests time out; repair: toxics removed (old connections resume)",
		"no reply within",
		func(context.Context) error { return d.net.links[0].setCut(true) },
		func(context.Context) error { return d.net.links[0].setCut(false) })
}

func (d *drill) instancePoweredOff(ctx context.Context, name string) result {
	return d.oneInstance(ctx, name,
		"one regsim process holds both instances and the store, so nothing can be SIGKILLed without losing the database; "+
			"instead: the network of instance 0 goes silent as in 1b (packets vanish, as for a host that is off), "+
			"and at power-on the host has forgotten every connection: process restarted (Fault{Down} set and cleared) and every relayed "+
			"connection dropped before the toxics go. The store survives, as td-mysql on its own host does. Not emulated: SYN timeouts, "+
			"and requests in flight at the cut are finished by the process with the reply dropped rather than lost",
		"no reply within",
		func(context.Context) error { return d.net.links[0].setCut(true) },
		func(ctx context.Context) error { return d.powerOn(ctx, 0) })
}

func (d *drill) oneInstance(ctx context.Context, name, how, reason string, fail, repair func(context.Context) error) result {
	r := result{Scenario: name, How: how, Expected: oneInstanceExpected}
	steadyFrom, ok := d.baseline(ctx, &r)
	if !ok {
		return r
	}
	faultAt := time.Now()
	if infra(&r, fail(ctx)) {
		return r
	}
	took, ok := waitUntil(ctx, 10*time.Second, 50*time.Millisecond, func() bool { return d.lb.serverIs(ctx, "inst0", false) })
	r.expect("HAProxy takes instance 0 out", "DOWN within 10 s", ok, "DOWN after %.1f s", took.Seconds())

	c1, err := d.sim.counters(ctx)
	if infra(&r, err) {
		return r
	}
	winFrom := time.Now()
	inst0, inst1 := d.net.links[0].URL(), d.net.links[1].URL()
	d.probeCheck(ctx, &r, "probe: instance 0", []string{reason}, []int{probeCritical}, urlArgs(inst0))
	d.probeCheck(ctx, &r, "probe: service (HAProxy, instances behind it)", []string{"service up", "1/2 instances up", reason}, []int{probeWarning}, serviceArgs(d.lb.URL(), inst0, inst1))
	d.probeCheck(ctx, &r, "probe: both instances", []string{"1/2 endpoints up", reason}, []int{probeWarning}, urlArgs(inst0, inst1))
	if infra(&r, observeUntil(ctx, winFrom.Add(faultWindow))) {
		return r
	}
	c2, err := d.sim.counters(ctx)
	if infra(&r, err) {
		return r
	}
	dl := byInstance(c1, c2)
	r.expect("all traffic on the other instance", "instance 0: 0 requests, instance 1: > 0", dl[0] == 0 && dl[1] > 0,
		"instance 0: %d, instance 1: %d requests in %.0f s", dl[0], dl[1], time.Since(winFrom).Seconds())

	repairAt := time.Now()
	if infra(&r, repair(ctx)) {
		return r
	}
	took, ok = waitUntil(ctx, 10*time.Second, 50*time.Millisecond, func() bool { return d.lb.serverIs(ctx, "inst0", true) })
	r.expect("HAProxy takes instance 0 back", "UP within 10 s", ok, "UP after %.1f s", took.Seconds())
	prev, err := d.sim.counters(ctx)
	if infra(&r, err) {
		return r
	}
	var share float64
	_, ok = waitUntil(ctx, 15*time.Second, time.Second, func() bool {
		cur, err := d.sim.counters(ctx)
		if err != nil {
			return false
		}
		dd := byInstance(prev, cur)
		prev = cur
		if dd[0]+dd[1] == 0 {
			return false
		}
		share = float64(dd[0]) / float64(dd[0]+dd[1])
		return share >= 0.25
	})
	r.expect("traffic over both instances again", "instance 0 ≥ 25% of a second's requests within 15 s", ok,
		"%.0f%% after %.1f s", 100*share, time.Since(repairAt).Seconds())
	d.probeCheck(ctx, &r, "probe: instance 0 after the repair", nil, []int{probeOK}, urlArgs(inst0))
	d.probeCheck(ctx, &r, "probe: service after the repair", []string{"2/2 instances up"}, []int{probeOK}, serviceArgs(d.lb.URL(), inst0, inst1))

	if infra(&r, observeUntil(ctx, repairAt.Add(herdWindow))) {
		return r
	}
	end := time.Now()
	ops := d.fleet.opsIn(faultAt, end)
	r.FailedCalls = ops.Failed + ops.Offline
	r.expect("no client-visible failure", "0 failed calls", r.FailedCalls == 0,
		"%d of %d calls failed (max latency %v) %s", r.FailedCalls, ops.Total, ops.MaxLat.Round(time.Millisecond), strings.Join(ops.Samples, "; "))
	red, why := d.fleet.wentRed(faultAt, end)
	r.expect("clients stay Green", fmt.Sprintf("0 of %d turned Red", len(d.fleet.members)), red == 0, "%d turned Red %s", red, strings.Join(why, "; "))
	r.note("slowest application call during the fault: %v (a request that waited for the dead instance before the retry elsewhere)", ops.MaxLat.Round(time.Millisecond))
	d.herd(ctx, &r, steadyFrom, faultAt, repairAt)
	return r
}

// ---- scenarios 2, 3, 4: outages ----

// outage describes an outage scenario.
type outage struct {
	how, expected  string
	red            []group  // groups expected to turn Red (and queue)
	green          []group  // groups expected to stay Green with no failure
	lb503          bool     // HAProxy answers 503 while it lasts
	serviceReasons []string // what the probe of the service must name
	probeInst      int      // probe exit code expected for each instance
	instReason     string
	fail, repair   func(context.Context) error
}

func (d *drill) bothDown(ctx context.Context, name string) result {
	return d.serviceDown(ctx, name,
		"regsim Fault{Down} on both instances (+ both relays refuse): `service httpd stop` on regserv01 and regserv02. "+
			"The network-cut and power-off variants are not run for two instances",
		"LB 503; all Red; online-only ErrOffline at once; invitations queue; repaired: all Green, each invitation delivered once",
		"connection refused",
		func(ctx context.Context) error {
			return firstErr(d.stopInstance(ctx, 0), d.stopInstance(ctx, 1))
		},
		func(ctx context.Context) error {
			return firstErr(d.startInstance(ctx, 0), d.startInstance(ctx, 1))
		})
}

func (d *drill) databaseDown(ctx context.Context, name string) result {
	return d.serviceDown(ctx, name,
		"regsim SetStoreFault (dbdown) through the control endpoint: every command answers exception -12507 (2003, "+
			"\"Can't connect to MySQL server\") and /healthz 503 on both instances; the store keeps its data (a stopped mysqld, not a lost disk)",
		"LB 503 (health checks fail); all Red; nothing lost; repaired: all Green, each invitation delivered once",
		"database unavailable",
		func(ctx context.Context) error { return d.sim.setStoreDown(ctx, true) },
		func(ctx context.Context) error { return d.sim.setStoreDown(ctx, false) })
}

// serviceDown runs an outage of the whole service (scenarios 2 and 3): every
// client turns Red, HAProxy answers 503 and the probe finds the service
// CRITICAL (HAProxy's "HTTP 503" page, and the instances' instReason) and
// instance 1 CRITICAL, naming instReason.
func (d *drill) serviceDown(ctx context.Context, name, how, expected, instReason string, fail, repair func(context.Context) error) result {
	return d.outage(ctx, name, outage{
		how:            how,
		expected:       expected,
		red:            allGroups,
		lb503:          true,
		serviceReasons: []string{"service down: /healthz HTTP 503", "0/2 instances up: " + instReason},
		probeInst:      probeCritical,
		instReason:     instReason,
		fail:           fail,
		repair:         repair,
	})
}

func (d *drill) loadBalancerDown(ctx context.Context, name string) result {
	return d.outage(ctx, name, outage{
		how:            "SIGTERM to the HAProxy process (hard stop): its port refuses connections; repair: HAProxy started again with the same configuration and port",
		expected:       "LB clients Red, their invitations queue; round-robin and primary/backup clients Green, 0 failed; repaired: Green, delivered once",
		red:            []group{groupLB},
		green:          []group{groupRR, groupPB},
		serviceReasons: []string{"service down: connection refused", "2/2 instances up"},
		probeInst:      probeOK,
		fail:           func(context.Context) error { return d.lb.stop() },
		repair:         func(ctx context.Context) error { return d.lb.start(ctx) },
	})
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *drill) outage(ctx context.Context, name string, o outage) result {
	r := result{Scenario: name, How: o.how, Expected: o.expected}
	steadyFrom, ok := d.baseline(ctx, &r)
	if !ok {
		return r
	}
	c0, err := d.sim.counters(ctx)
	if infra(&r, err) {
		return r
	}
	faultAt := time.Now()
	if infra(&r, o.fail(ctx)) {
		return r
	}
	if o.lb503 {
		took, ok := waitUntil(ctx, 10*time.Second, 50*time.Millisecond, func() bool { return d.lb.allServers(ctx, false) })
		r.expect("HAProxy takes both instances out", "both DOWN within 10 s", ok, "after %.1f s", took.Seconds())
		hs, err1 := d.lb.status(ctx, "GET", "/healthz")
		api, err2 := d.lb.status(ctx, "POST", "/pbas/td2as/api/api.htm")
		r.expect("HAProxy answers 503", "503 on /healthz and on the API", hs == 503 && api == 503,
			"/healthz %d, API %d %v", hs, api, firstErr(err1, err2))
	}

	nRed := len(d.fleet.of(o.red...))
	took, ok := waitUntil(ctx, 20*time.Second, 50*time.Millisecond, func() bool { return d.fleet.all(client.Red, o.red...) })
	n, _ := d.fleet.count(client.Red, o.red...)
	r.expect(fmt.Sprintf("clients of %v turn Red", o.red), fmt.Sprintf("%d Red within 20 s", nRed), ok,
		"%d Red after %.1f s", n, took.Seconds())

	wave := d.fleet.onlineOnlyWave(ctx, o.red...)
	r.expect("online-only calls fail fast", fmt.Sprintf("ErrOffline within %v", fastOffline),
		wave.Other == 0 && wave.MaxLat <= fastOffline,
		"%d of %d ErrOffline, slowest %v %s", wave.Offline, wave.Total, wave.MaxLat.Round(time.Microsecond), strings.Join(wave.Samples, "; "))
	sends := d.fleet.sendInvitations(ctx, strings.Fields(name)[0], o.red...)
	r.expect("invitations queue", fmt.Sprintf("%d queued, 0 errors", nRed), sends.Queued == nRed && sends.Failed == 0,
		"%d queued, %d sent at once, %d failed %s", sends.Queued, sends.Direct, sends.Failed, strings.Join(sends.Samples, "; "))

	inst0, inst1 := d.net.links[0].URL(), d.net.links[1].URL()
	d.probeCheck(ctx, &r, "probe: service (HAProxy, instances behind it)", o.serviceReasons, []int{probeCritical}, serviceArgs(d.lb.URL(), inst0, inst1))
	var instReasons []string
	if o.instReason != "" {
		instReasons = []string{o.instReason}
	}
	d.probeCheck(ctx, &r, "probe: instance 1", instReasons, []int{o.probeInst}, urlArgs(inst1))

	redAtRepair := d.fleet.redNow(o.red...)
	repairAt := time.Now()
	if infra(&r, o.repair(ctx)) {
		return r
	}
	bound := d.greenBound()
	_, ok = waitUntil(ctx, bound+10*time.Second, 50*time.Millisecond, func() bool { return d.fleet.all(client.Green) })
	longest, missing := d.fleet.greenAfter(repairAt, redAtRepair)
	r.TimeToGreenSeconds = ptr(longest.Seconds())
	r.expect("all clients Green again", fmt.Sprintf("within %v of the repair", bound), ok && missing == 0 && longest <= bound,
		"%d of %d Red clients Green, the last after %.1f s", len(redAtRepair)-missing, len(redAtRepair), longest.Seconds())
	greenAt := time.Now()

	_, ok = waitUntil(ctx, d.deliverBound(), 100*time.Millisecond, func() bool {
		lost, _ := d.fleet.delivery(sends.Tokens)
		return lost == 0
	})
	r.expect("queued invitations delivered", fmt.Sprintf("all within %v of the repair", d.deliverBound()), ok,
		"after %.1f s", time.Since(repairAt).Seconds())
	if infra(&r, observeUntil(ctx, repairAt.Add(herdWindow))) {
		return r
	}
	end := time.Now()
	r.Lost, r.Duplicated = d.fleet.delivery(sends.Tokens)
	c1, err := d.sim.counters(ctx)
	if infra(&r, err) {
		return r
	}
	stored := c1.InvitationsStored - c0.InvitationsStored
	r.expect("every invitation delivered exactly once", fmt.Sprintf("%d sent, %d stored by the server, 0 lost, 0 duplicated", len(sends.Tokens), len(sends.Tokens)),
		r.Lost == 0 && r.Duplicated == 0 && stored == int64(len(sends.Tokens)) && len(sends.Tokens) == nRed,
		"%d sent, %d stored, %d lost, %d duplicated (%d replays absorbed by requestid)",
		len(sends.Tokens), stored, r.Lost, r.Duplicated, c1.DuplicateRequestIDs-c0.DuplicateRequestIDs)

	r.FailedCalls = sends.Failed + wave.Other
	if len(o.green) > 0 {
		ops := d.fleet.opsIn(faultAt, end, o.green...)
		red, why := d.fleet.wentRed(faultAt, end, o.green...)
		r.FailedCalls += ops.Failed + ops.Offline
		r.expect(fmt.Sprintf("clients of %v unaffected", o.green), "0 failed calls, 0 turned Red",
			ops.Failed+ops.Offline == 0 && red == 0,
			"%d of %d calls failed, %d turned Red %s", ops.Failed+ops.Offline, ops.Total, red, strings.Join(append(ops.Samples, why...), "; "))
	}
	after := d.fleet.opsIn(greenAt, end)
	r.FailedCalls += after.Failed + after.Offline
	r.expect("calls succeed once Green", "0 failed calls after every client is Green", after.Failed+after.Offline == 0,
		"%d of %d failed %s", after.Failed+after.Offline, after.Total, strings.Join(after.Samples, "; "))
	during := d.fleet.opsIn(faultAt, repairAt, o.red...)
	r.note("application calls of the Red clients during the outage: %d ok, %d ErrOffline (slowest %v), %d failed while detecting the outage",
		during.OK, during.Offline, during.MaxOfflineLat.Round(time.Microsecond), during.Failed)
	d.herd(ctx, &r, steadyFrom, faultAt, repairAt)
	return r
}

// ---- scenario 5: primary/backup ----

func (d *drill) primaryBackup(ctx context.Context, name string) result {
	r := result{
		Scenario: name,
		How: fmt.Sprintf("%d clients with URLs=[instance 0] and BackupURLs=[instance 1]; primary down: regsim Fault{Down} on instance 0 "+
			"(+ its relay refuses), as in 1a; counts: each client's per-endpoint attempts (client.Stats) and regsim's per-instance requests", nPB),
		Expected: "primary down: pb clients on the backup, Green, 0 failed; primary back: all pb clients return to it, backup idle",
	}
	steadyFrom, ok := d.baseline(ctx, &r)
	if !ok {
		return r
	}
	h, tr, ej := d.fleet.endpointStates(1, groupPB)
	r.note("before the fault, the pb clients hold their backup endpoint: healthy in %d, awaiting its trial call in %d, ejected in %d", h, tr, ej)
	faultAt := time.Now()
	if infra(&r, d.stopInstance(ctx, 0)) {
		return r
	}
	took, ok := waitUntil(ctx, 15*time.Second, 50*time.Millisecond, func() bool { return d.fleet.tierCount(client.TierBackup, groupPB) == nPB })
	r.expect("clients move to the backup", fmt.Sprintf("%d Green on the backup tier within 15 s", nPB), ok,
		"%d after %.1f s", d.fleet.tierCount(client.TierBackup, groupPB), took.Seconds())

	w, err := d.watchPB(ctx)
	if infra(&r, err) {
		return r
	}
	r.expect("served by the backup", "backup attempts > 0; instance 0 serves 0 requests", w.backup > 0 && w.inst[0] == 0,
		"pb attempts: backup %d, primary %d (trials); regsim: instance 0 %d, instance 1 %d requests", w.backup, w.primary, w.inst[0], w.inst[1])

	repairAt := time.Now()
	if infra(&r, d.startInstance(ctx, 0)) {
		return r
	}
	backBound := maxEjectionTime*5/4 + 2*pollInterval
	took, ok = waitUntil(ctx, 20*time.Second, 50*time.Millisecond, func() bool { return d.fleet.tierCount(client.TierPrimary, groupPB) == nPB })
	r.expect("clients return to the primary", fmt.Sprintf("%d on the primary tier within %v", nPB, backBound), ok && took <= backBound,
		"%d after %.1f s", d.fleet.tierCount(client.TierPrimary, groupPB), took.Seconds())

	w, err = d.watchPB(ctx)
	if infra(&r, err) {
		return r
	}
	r.expect("traffic back on the primary", "pb attempts: primary > 0, backup 0; regsim instance 0 > 0", w.primary > 0 && w.backup == 0 && w.inst[0] > 0,
		"pb attempts: primary %d, backup %d; regsim: instance 0 %d, instance 1 %d requests", w.primary, w.backup, w.inst[0], w.inst[1])

	if infra(&r, observeUntil(ctx, repairAt.Add(herdWindow))) {
		return r
	}
	end := time.Now()
	ops := d.fleet.opsIn(faultAt, end, groupPB)
	red, why := d.fleet.wentRed(faultAt, end, groupPB)
	r.FailedCalls = ops.Failed + ops.Offline
	r.expect("no client-visible failure", "0 failed calls, 0 turned Red", r.FailedCalls == 0 && red == 0,
		"%d of %d calls failed, %d turned Red %s", r.FailedCalls, ops.Total, red, strings.Join(append(ops.Samples, why...), "; "))
	all := d.fleet.opsIn(faultAt, end)
	r.note("all %d clients during the scenario: %d of %d calls failed", len(d.fleet.members), all.Failed+all.Offline, all.Total)
	d.herd(ctx, &r, steadyFrom, faultAt, repairAt)
	return r
}

// pbWindow is the traffic of one faultWindow in scenario 5.
type pbWindow struct {
	primary, backup int64   // attempts of the pb clients on endpoint 0 and endpoint 1
	inst            []int64 // requests regsim served, by instance
}

// watchPB observes the system for faultWindow and returns the pb clients'
// attempts on each endpoint and regsim's requests on each instance in it.
func (d *drill) watchPB(ctx context.Context) (pbWindow, error) {
	p0, b0 := d.fleet.endpointRequests(0, groupPB), d.fleet.endpointRequests(1, groupPB)
	c0, err := d.sim.counters(ctx)
	if err != nil {
		return pbWindow{}, err
	}
	if err := observe(ctx, faultWindow); err != nil {
		return pbWindow{}, err
	}
	p1, b1 := d.fleet.endpointRequests(0, groupPB), d.fleet.endpointRequests(1, groupPB)
	c1, err := d.sim.counters(ctx)
	if err != nil {
		return pbWindow{}, err
	}
	return pbWindow{primary: p1 - p0, backup: b1 - b0, inst: byInstance(c0, c1)}, nil
}
