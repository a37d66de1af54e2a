package drill

// The pure parts of the drill: results, the table, the JSON report and the
// herd ratio. They carry no build tag, so that their unit tests run in a
// plain `go test ./drill/...`.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// check is one expectation of a scenario and what was observed.
type check struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
}

// result is the outcome of one scenario.
type result struct {
	Scenario string `json:"scenario"`
	// How says how the failure was produced and how that differs from the
	// real failure of the seed's test plan.
	How      string `json:"how"`
	Expected string `json:"expected"`
	// FailedCalls counts client-visible failures where the test plan
	// expects none: application calls that failed for clients that should
	// not have noticed the fault, invitations that were neither sent nor
	// queued, and online-only calls that did not fail fast with ErrOffline
	// once the client was Red.
	FailedCalls int `json:"failed_calls"`
	// Lost and Duplicated count invitations queued during the scenario
	// that never reached their recipient, or reached it more than once.
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	// TimeToGreenSeconds is the longest time from the repair to a Red
	// client's return to Green; nil when no client was expected to be Red.
	TimeToGreenSeconds *float64 `json:"time_to_green_s"`
	// HerdRatio is the peak request rate over any 1 s window in the 10 s
	// after the repair divided by the mean rate over the 5 s before the
	// fault (all instances, regsim's counters); nil when not measurable.
	HerdRatio *float64 `json:"herd_ratio"`
	Checks    []check  `json:"checks"`
	Notes     []string `json:"notes,omitempty"`
	Pass      bool     `json:"pass"`
	Seconds   float64  `json:"seconds"`
}

// expect records a check.
func (r *result) expect(name, want string, ok bool, gotFormat string, args ...any) bool {
	r.Checks = append(r.Checks, check{Name: name, Want: want, Got: fmt.Sprintf(gotFormat, args...), OK: ok})
	return ok
}

// note records an observation that is not a check.
func (r *result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// finish sets Pass: every check holds and there is at least one.
func (r *result) finish() {
	r.Pass = len(r.Checks) > 0
	for _, c := range r.Checks {
		if !c.OK {
			r.Pass = false
		}
	}
}

func ptr(v float64) *float64 { return &v }

func fmtOpt(v *float64, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// writeTable prints the summary table and, below it, each scenario's
// emulation, checks and notes.
func writeTable(w io.Writer, rs []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tEXPECTED\tFAILED\tLOST\tDUP\tTO GREEN\tHERD\tRESULT")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", r.Scenario, r.Expected, r.FailedCalls,
			r.Lost, r.Duplicated, fmtOpt(r.TimeToGreenSeconds, "%.1fs"), fmtOpt(r.HerdRatio, "%.2f"), passFail(r.Pass))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "FAILED: client-visible failures where the plan expects none (calls that failed while a full outage was being detected are in the notes);")
	fmt.Fprintln(w, "LOST/DUP: queued invitations never or repeatedly received; TO GREEN: repair to the last Red client's Green; HERD: peak 1 s rate after the repair / steady rate before the fault.")
	for _, r := range rs {
		fmt.Fprintf(w, "\n%s  [%s, %.0fs]\n  how: %s\n", r.Scenario, passFail(r.Pass), r.Seconds, r.How)
		for _, c := range r.Checks {
			mark := "ok "
			if !c.OK {
				mark = "BAD"
			}
			fmt.Fprintf(w, "  %s %s: want %s; got %s\n", mark, c.Name, c.Want, c.Got)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "      %s\n", n)
		}
	}
	return nil
}

// report is the JSON document the drill writes.
type report struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Setup    []string  `json:"setup"`
	Results  []result  `json:"results"`
	AllPass  bool      `json:"all_pass"`
	Versions []string  `json:"versions,omitempty"`
}

// writeJSON writes rep to path.
func writeJSON(path string, rep report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// rates holds a request-count series: Counts[i] requests in the bucket
// [Start+i·Bucket, Start+(i+1)·Bucket).
type rates struct {
	Start  time.Time
	Bucket time.Duration
	Counts []int64
}

// index returns the bucket of t, clamped at 0.
func (s rates) index(t time.Time) int {
	i := int(t.Sub(s.Start) / s.Bucket)
	return max(i, 0)
}

func (s rates) at(i int) int64 {
	if i < 0 || i >= len(s.Counts) {
		return 0 // a bucket after the last request has no entry
	}
	return s.Counts[i]
}

// mean returns the mean rate per second over [from, to).
func (s rates) mean(from, to time.Time) float64 {
	i0, i1 := s.index(from), s.index(to)
	if i1 <= i0 {
		return 0
	}
	var n int64
	for i := i0; i < i1; i++ {
		n += s.at(i)
	}
	return float64(n) / (float64(i1-i0) * s.Bucket.Seconds())
}

// peak returns the highest rate per second over any window of width w that
// starts in [from, to-w].
func (s rates) peak(from, to time.Time, w time.Duration) float64 {
	k := max(int(w/s.Bucket), 1)
	i0, i1 := s.index(from), s.index(to)
	best := int64(0)
	for j := i0; j+k <= i1; j++ {
		var n int64
		for i := j; i < j+k; i++ {
			n += s.at(i)
		}
		best = max(best, n)
	}
	return float64(best) / (float64(k) * s.Bucket.Seconds())
}

// herdRatio is the peak 1 s request rate in [peakFrom, peakTo) divided by
// the mean rate in [steadyFrom, steadyTo). ok is false when the steady rate
// is zero.
func (s rates) herdRatio(steadyFrom, steadyTo, peakFrom, peakTo time.Time) (ratio, steady, peak float64, ok bool) {
	steady = s.mean(steadyFrom, steadyTo)
	peak = s.peak(peakFrom, peakTo, time.Second)
	if steady <= 0 {
		return 0, steady, peak, false
	}
	return peak / steady, steady, peak, true
}

// haproxyConfig describes the load balancer of the drill.
type haproxyConfig struct {
	Bind       string   // frontend address, loopback
	StatsBind  string   // stats page address, loopback
	Servers    []string // backend addresses (host:port), named inst0, inst1, …
	CheckInter time.Duration
	Fall, Rise int
	// ServerTimeout is how long HAProxy waits for a server's reply before
	// it retries the request on another server (retry-on response-timeout).
	ServerTimeout time.Duration
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// render returns the haproxy.cfg text.
//
// Retrying after the request was sent (retry-on empty-response and
// response-timeout) is safe here only because the protocol makes replays
// harmless: every mutating command carries a requestid that the server
// applies once (PROTOCOL.md). Without such replay protection only
// conn-failure may be retried.
func (c haproxyConfig) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, `# generated by the regfleet failover drill
global
	maxconn 4096

defaults
	mode http
	timeout connect 500ms
	timeout client 30s
	timeout server %s
	timeout check 1s
	timeout http-keep-alive 10s
	retries 2
	option redispatch 1
	retry-on conn-failure empty-response response-timeout

frontend regfleet
	bind %s
	default_backend regservers

backend regservers
	balance roundrobin
	option httpchk GET /healthz
	http-check expect status 200
	default-server inter %s fall %d rise %d
`, ms(c.ServerTimeout), c.Bind, ms(c.CheckInter), c.Fall, c.Rise)
	for i, s := range c.Servers {
		fmt.Fprintf(&b, "\tserver inst%d %s check\n", i, s)
	}
	fmt.Fprintf(&b, `
listen stats
	bind %s
	stats enable
	stats uri /stats
`, c.StatsBind)
	return b.String()
}

// parseStatsCSV returns the status ("UP", "DOWN", "UP 1/2", …) of each
// server of backend from HAProxy's "show stat" CSV.
func parseStatsCSV(data, backend string) (map[string]string, error) {
	lines := strings.Split(strings.TrimSpace(data), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "# ") {
		return nil, fmt.Errorf("not HAProxy stats CSV")
	}
	head := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	px, sv, st := col["pxname"], col["svname"], col["status"]
	if _, ok := col["status"]; !ok {
		return nil, fmt.Errorf("no status column")
	}
	out := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) <= max(px, sv, st) || f[px] != backend || f[sv] == "BACKEND" || f[sv] == "FRONTEND" {
			continue
		}
		out[f[sv]] = f[st]
	}
	return out, nil
}

// serverUp reports whether an HAProxy server status takes traffic: "UP"
// and "UP 1/2" (going down) do, "DOWN" and "DOWN 1/2" (going up) do not.
func serverUp(status string) bool { return strings.HasPrefix(status, "UP") }
