package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/regfleet/regfleet/loadgen"
)

// Saved reports of tiny runs of the embedded cluster (6 and 8 clients, 5 s,
// an outage down:1s@2s; b naive), and a version 2 report.
const (
	fixtureA  = "testdata/a.json"
	fixtureB  = "testdata/b.json"
	fixtureV2 = "testdata/v2.json"
)

// runCanceled runs the command with a canceled context: a run that got
// past its checks would start no client and print its report at once.
func runCanceled(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, args, &out, &errOut)
	return exitCode(err, &errOut), out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{
		{"--version"}, {"run", "--version"}, {"--clients", "5", "--version"},
		{"merge", "--version"}, {"report", "--version"}, {"compare", "--version"}, {"help", "--version"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK || stderr != "" {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
			if !regexp.MustCompile(`^loadgen \S.*\n$`).MatchString(stdout) {
				t.Errorf("stdout %q, want one line \"loadgen VERSION\"", stdout)
			}
		})
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	tests := []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{nil, "(devel)"},
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "7714f2740c9384a762e3a9cab8e455f4250e4812"}, {Key: "vcs.modified", Value: "true"},
		}}, "(devel) 7714f2740c93 modified"},
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"},
		}}, "v1.2.0 abc"},
		{&debug.BuildInfo{}, "(devel)"},
	}
	for _, tt := range tests {
		if got := version(tt.bi, tt.bi != nil); got != tt.want {
			t.Errorf("version(%+v) = %q, want %q", tt.bi, got, tt.want)
		}
	}
}

func TestHelp(t *testing.T) {
	main := []string{
		"runs thousands of real regfleet SDK clients", // what it does
		"loadgen [run] [flags]", "loadgen merge SHARD.json", "loadgen report RUN.json", "loadgen compare A.json B.json", "loadgen help",
		"--outage ", "--progress ", "--threshold ", "--version ", "--help ",
		"Exit codes:", "0  success", "1  a --threshold was crossed", "2  bad flags or arguments", "3  the run failed, no client could start",
	}
	tests := []struct {
		args      []string
		want, not []string
	}{
		{[]string{"--help"}, main, nil},
		{[]string{"-h"}, main, nil},
		{[]string{"help"}, main, nil},
		{[]string{"run", "--help"}, main, nil},
		{[]string{"--clients", "5", "--help"}, main, nil},
		{[]string{"help", "run"}, main, nil},
		{[]string{"merge", "--help"}, []string{"loadgen merge combines", "loadgen merge SHARD.json", "--out ", "--html ", "--threshold ", "--version ", "Exit codes:"}, []string{"--outage "}},
		{[]string{"help", "report"}, []string{"loadgen report renders", "loadgen report RUN.json", "--html ", "--hgrm ", "--threshold ", "Exit codes:"}, []string{"--out ", "--outage "}},
		{[]string{"compare", "--help"}, []string{"loadgen compare lines two", "loadgen compare A.json B.json", "--version ", "Exit codes:"}, []string{"--threshold "}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != exitOK || stderr != "" {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help lacks %q:\n%s", w, stdout)
				}
			}
			for _, n := range tt.not {
				if regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(n)).MatchString(stdout) {
					t.Errorf("help has %q, not a flag of this command", n)
				}
			}
		})
	}
	code, _, stderr := runCLI(t, "help", "bogus")
	if code != exitUsage || !strings.Contains(stderr, `no command "bogus"`) {
		t.Errorf("help bogus: exit %d, %q", code, stderr)
	}
	if code, stdout, _ := runCLI(t, "help", "tune"); code != exitOK || !strings.Contains(stdout, "--goal") {
		t.Errorf("help tune: exit %d, %q", code, stdout)
	}
	// A bad flag says where the flags are listed.
	code, _, stderr = runCLI(t, "report", "--bogus")
	if code != exitUsage || !strings.Contains(stderr, "unknown flag: --bogus (loadgen report --help lists the flags)") {
		t.Errorf("report --bogus: exit %d, %q", code, stderr)
	}
}

// TestChecksBeforeRun: output paths and threshold names are checked before
// any load starts: with a canceled context, a run past its checks would
// print its report, so an empty stdout shows none ran.
func TestChecksBeforeRun(t *testing.T) {
	dir := t.TempDir()
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		mention []string
		root    bool // skipped as root, who writes anywhere
	}{
		{"html in a missing directory", []string{"--html", "/nonexistent/r.html"}, []string{"--html /nonexistent/r.html: cannot write in /nonexistent"}, false},
		{"hgrm in a missing directory", []string{"--hgrm", filepath.Join(dir, "no", "r.hgrm")}, []string{"--hgrm ", "no such file or directory"}, false},
		{"out is a directory", []string{"--out", dir}, []string{"--out " + dir + ": is a directory"}, false},
		{"the same file twice", []string{"--out", filepath.Join(dir, "r"), "--html", filepath.Join(dir, "r")}, []string{"--out and --html name the same file"}, false},
		{"read-only directory", []string{"--out", filepath.Join(readOnly, "r.json")}, []string{"--out ", "permission denied"}, true},
		// Root writes in a read-only directory, but in /proc no one does:
		// the case above, where the test runs as root.
		{"a directory no one writes in", []string{"--out", "/proc/r.json"}, []string{"--out /proc/r.json: cannot write in /proc"}, false},
		{"unknown command", []string{"--threshold", "p99{login}<1s"}, []string{`unknown command or operation "login"`, "loginuser", "sendinvitation", "healthz", "invite", "deliver"}, false},
		{"unknown command in report", []string{"report", fixtureA, "--threshold", "errors{nosuch}<1%"}, []string{`unknown command or operation "nosuch"`, "getmessages"}, false},
		{"report to a missing directory", []string{"report", fixtureA, "--html", "/nonexistent/r.html"}, []string{"--html /nonexistent/r.html"}, false},
		{"merge to a missing directory", []string{"merge", fixtureA, "--out", "/nonexistent/m.json"}, []string{"--out /nonexistent/m.json"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.HasPrefix(tt.name, "a directory no one") && runtime.GOOS != "linux" {
				t.Skip("/proc is Linux's")
			}
			if tt.root && os.Geteuid() == 0 {
				t.Skip("root writes in a read-only directory")
			}
			code, stdout, stderr := runCanceled(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d\n%s", code, exitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("something ran before the check:\n%s", stdout)
			}
			for _, m := range tt.mention {
				if !strings.Contains(stderr, m) {
					t.Errorf("stderr %q does not mention %q", stderr, m)
				}
			}
		})
	}
	// Names the SDK sends pass, and the check leaves no file behind.
	for _, th := range []string{"p99{loginuser}<1s", "errors{healthz}<1%", "p99{invite}<2s", "p99{deliver}<1m", "p99<1s"} {
		if _, _, _, err := configure([]string{"--threshold", th, "--out", filepath.Join(dir, "ok.json")}, io.Discard, io.Discard); err != nil {
			t.Errorf("--threshold %s refused: %v", th, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 { // ro
		t.Errorf("the checks left files in %s: %v", dir, entries)
	}
}

// TestWriteFileWholeOrNothing: a report that fails half-way leaves no file
// (nor a temporary one), and an existing file as it was.
func TestWriteFileWholeOrNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.html")
	failing := func(w io.Writer) error {
		io.WriteString(w, "<html>half")
		return errors.New("disk full")
	}
	if err := writeFile(path, failing); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("writeFile = %v, want the reporter's error", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed write left %v", entries)
	}
	if err := writeFile(path, func(w io.Writer) error { _, err := io.WriteString(w, "whole"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(path, failing); err == nil {
		t.Error("failed write: no error")
	}
	if b, _ := os.ReadFile(path); string(b) != "whole" {
		t.Errorf("after a failed rewrite the file has %q, want the old report", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files %v, want the report only", entries)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v: want 0644", st.Mode(), err)
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	html, hgrm := filepath.Join(dir, "a.html"), filepath.Join(dir, "a.hgrm")
	code, stdout, stderr := runCLI(t, "report", fixtureA, "--html", html, "--hgrm", hgrm)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"Run ", "clients 6", "Outage ", "down:1s@2s", "Delivery ", "wrote " + html, "wrote " + hgrm} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "Thresholds") {
		t.Errorf("thresholds listed although none was given:\n%s", stdout)
	}
	if b, err := os.ReadFile(html); err != nil || !bytes.Contains(b, []byte("<html")) {
		t.Errorf("%s: %v", html, err)
	}
	if b, err := os.ReadFile(hgrm); err != nil || !bytes.Contains(b, []byte("Percentile")) {
		t.Errorf("%s: %v", hgrm, err)
	}
	// A version 2 report renders too.
	if code, stdout, stderr := runCLI(t, "report", fixtureV2); code != exitOK || !strings.Contains(stdout, "Run ") {
		t.Errorf("version 2 report: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, tt := range []struct {
		args    []string
		mention string
	}{
		{[]string{"report"}, "report: name the report"},
		{[]string{"report", fixtureA, fixtureB}, "one report at a time"},
		{[]string{"report", "/nonexistent/a.json"}, "no such file"},
		{[]string{"report", "cli_test.go"}, "bad report"},
		{[]string{"report", fixtureA, "--out", "x.json"}, "unknown flag: --out"},
	} {
		if code, _, stderr := runCLI(t, tt.args...); code != exitUsage || !strings.Contains(stderr, tt.mention) {
			t.Errorf("%v: exit %d, stderr %q, want %d mentioning %q", tt.args, code, stderr, exitUsage, tt.mention)
		}
	}
}

// TestThresholdsListed: every threshold is listed at the end with ✓ or ✗,
// held, crossed or not measured; any not held exits 1.
func TestThresholdsListed(t *testing.T) {
	code, stdout, _ := runCLI(t, "report", fixtureA,
		"--threshold", "errors<100%", "--threshold", "p50<1ns", "--threshold", "missed<1%", "--threshold", "p99{sendcomment}<1s")
	if code != exitThreshold {
		t.Errorf("exit %d, want %d", code, exitThreshold)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) < 5 {
		t.Fatalf("output:\n%s", stdout)
	}
	tail := lines[len(lines)-5:]
	want := []string{
		`^Thresholds: 3 of 4 crossed or not measured$`,
		`^  ✓ errors<100% held: \d`,
		`^  ✗ p50<1ns crossed: \d`,
		`^  ✗ missed<1% not measured: no offered sends$`,
		`^  ✗ p99\{sendcomment\}<1s not measured: no command or operation "sendcomment" in the report`,
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(tail[i]) {
			t.Errorf("line %q, want %s", tail[i], re)
		}
	}
	code, stdout, _ = runCLI(t, "report", fixtureA, "--threshold", "errors<100%", "--threshold", "p99{deliver}<1h")
	if code != exitOK || !strings.HasSuffix(stdout, "Thresholds: all 2 held\n  ✓ errors<100% held: 16.98%\n  ✓ p99{deliver}<1h held: 1.072s\n") {
		t.Errorf("all held: exit %d\n%s", code, stdout)
	}
}

func TestCompare(t *testing.T) {
	code, stdout, stderr := runCLI(t, "compare", fixtureA, fixtureB)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(stdout, "\n") {
		if f := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1); len(f) >= 2 {
			rows[f[0]] = f[1:]
		}
	}
	for _, fig := range []string{
		"rps", "errors", "p50", "p99", "p99.9",
		"p50{getmessages}", "p99{getmessages}", "p99.9{getmessages}", "p99{loginuser}", "p99{sendinvitation}",
		"p99{invite}", "p99{deliver}", "schedule lag p99", "accepted", "lost", "pending",
		"green99 [down:1s@2s]", "herd [down:1s@2s]", "drain [down:1s@2s]", "cpu_share", "cpu_per_request_us",
	} {
		if r, ok := rows[fig]; !ok || len(r) != 3 {
			t.Errorf("figure %q: row %q\n%s", fig, r, stdout)
		}
	}
	if r := rows["rps"]; len(r) == 3 && !regexp.MustCompile(`^[+-]\d+\.\d%$`).MatchString(r[2]) {
		t.Errorf("rps change %q", r[2])
	}
	if r := rows["errors"]; len(r) == 3 && !strings.HasSuffix(r[2], " pp") {
		t.Errorf("errors change %q, want percentage points", r[2])
	}
	for _, want := range []string{"a  " + fixtureA, "b  " + fixtureB, "Configurations differ in"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("comparison lacks %q:\n%s", want, stdout)
		}
	}
	for _, re := range []string{`config\.clients +6 +→ 8`, `config\.naive +false +→ true`, `config\.seed +1 +→ 2`} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("configuration difference %s not listed:\n%s", re, stdout)
		}
	}

	// A run against itself: the same configuration, no change.
	_, stdout, _ = runCLI(t, "compare", fixtureA, fixtureA)
	if !strings.Contains(stdout, "Configurations: the same") || !regexp.MustCompile(`(?m)^p99 .* =$`).MatchString(stdout) {
		t.Errorf("a against itself:\n%s", stdout)
	}
	for _, args := range [][]string{{"compare"}, {"compare", fixtureA}, {"compare", fixtureA, fixtureB, fixtureA}, {"compare", fixtureA, "/nonexistent"}} {
		if code, _, _ := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestCompareFiguresAbsent: a figure of one run only, or of neither, is
// shown as absent, not as zero, with no change.
func TestCompareFiguresAbsent(t *testing.T) {
	a := &loadgen.Report{Commands: map[string]*loadgen.CommandStats{"loginuser": {Requests: 1, Latency: loadgen.Latency{Count: 1, P99: loadgen.Duration(time.Millisecond)}}},
		Outages: []loadgen.OutageFigures{{Outage: "down:1s@2s"}}}
	b := &loadgen.Report{Outages: []loadgen.OutageFigures{{Outage: "hang:1s@2s", SteadyRate: 2, HerdRatio: 1.5}}}
	got := map[string]figure{}
	for _, f := range comparison(a, b) {
		got[f.name] = f
	}
	for _, tt := range []struct{ name, a, b, change string }{
		{"p99{loginuser}", "1ms", "absent", "–"},
		{"errors", "no requests", "no requests", "–"},
		{"accepted", "not counted", "not counted", "–"},
		{"green99 [down:1s@2s]", "not reached", "absent", "–"},
		{"herd [hang:1s@2s]", "absent", "1.50", "–"},
		{"cpu_share", "not measured", "not measured", "–"},
	} {
		f, ok := got[tt.name]
		if !ok {
			t.Errorf("no figure %q", tt.name)
			continue
		}
		if a, b := f.kind.format(f.a), f.kind.format(f.b); a != tt.a || b != tt.b || f.change() != tt.change {
			t.Errorf("%s: %q %q %q, want %q %q %q", tt.name, a, b, f.change(), tt.a, tt.b, tt.change)
		}
	}
}

// TestProgress: without a terminal, a plain line every 10 s and at each
// new phase, with the phase and the time left, never a \r or an escape;
// on a terminal the live line, with its phase; the saturation warning in
// every mode.
func TestProgress(t *testing.T) {
	live := func(s int, phase string, share float64) loadgen.Live {
		return loadgen.Live{Elapsed: time.Duration(s) * time.Second, Phase: phase, Left: time.Duration(60-s) * time.Second, CPUShare: share}
	}
	feed := func(p *progress) {
		for s := 1; s <= 35; s++ {
			phase := loadgen.PhaseLoad
			switch {
			case s <= 5:
				phase = loadgen.PhaseRampUp
			case s >= 20 && s < 25:
				phase = loadgen.PhaseOutage
			}
			share := 0.1
			if s >= 30 {
				share = 0.99
			}
			p.update(live(s, phase, share))
		}
		p.done()
	}

	var plain bytes.Buffer
	feed(newProgress(&plain, progressPlain))
	out := plain.String()
	if strings.ContainsAny(out, "\r\033") {
		t.Errorf("plain progress has \\r or escapes: %q", out)
	}
	var at []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if m := regexp.MustCompile(`^loadgen: (\d+s)  ([a-z-]+), (\d+s) left  green`).FindStringSubmatch(line); m != nil {
			at = append(at, m[1]+" "+m[2]+" "+m[3])
		}
	}
	want := []string{"1s ramp-up 59s", "6s load 54s", "10s load 50s", "20s outage 40s", "25s load 35s", "30s load 30s"}
	if strings.Join(at, ", ") != strings.Join(want, ", ") {
		t.Errorf("plain lines at %v, want %v\n%s", at, want, out)
	}
	if strings.Count(out, "WARNING") != 1 || !strings.Contains(out, "loadgen: WARNING: at 30s the generator used 99% of its cores") {
		t.Errorf("plain progress: the saturation warning not once:\n%s", out)
	}

	var term bytes.Buffer
	feed(newProgress(&term, progressLive))
	out = term.String()
	if strings.Count(out, "\r\033[K") != 35 || !strings.Contains(out, "\r\033[K20s  outage, 40s left  green") {
		t.Errorf("live progress:\n%q", out)
	}
	// The warning starts a line of its own, and the display ends with one.
	if !strings.Contains(out, "GENERATOR AT 99% CPU\nloadgen: WARNING: at 30s") || !strings.HasSuffix(out, "\n") {
		t.Errorf("live progress: the warning does not start its own line or the last line is open:\n%q", out)
	}

	var off bytes.Buffer
	feed(newProgress(&off, progressOff))
	if out := off.String(); !strings.HasPrefix(out, "loadgen: WARNING: at 30s") || strings.Count(out, "\n") != 1 {
		t.Errorf("progress off: %q, want the warning only", out)
	}

	// auto: plain lines without a terminal (a buffer here).
	for _, tt := range []struct{ flag, mode string }{{"auto", progressPlain}, {"on", progressLive}, {"plain", progressPlain}, {"off", progressOff}} {
		_, _, p, err := configure([]string{"--progress", tt.flag}, io.Discard, &bytes.Buffer{})
		if err != nil || p.mode != tt.mode {
			t.Errorf("--progress %s: mode %v, %v; want %s", tt.flag, p, err, tt.mode)
		}
	}
}

func TestFmtSeconds(t *testing.T) {
	for _, tt := range []struct {
		s    float64
		want string
	}{{1.07213, "1.072s"}, {0.110594, "110.6ms"}, {0.000768, "768µs"}, {96.25, "1m36.25s"}, {0, "0s"}} {
		if got := fmtSeconds(tt.s); got != tt.want {
			t.Errorf("fmtSeconds(%v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}
