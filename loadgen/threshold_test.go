package loadgen

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in   string
		want Threshold
		str  string // String(), when it differs from in
	}{
		{in: "p99<500ms", want: Threshold{Metric: "p", Percentile: 99, Op: OpLess, Limit: 0.5}},
		{in: "p50<=50ms", want: Threshold{Metric: "p", Percentile: 50, Op: OpLessEqual, Limit: 0.05}},
		{in: "p99.9 < 2s", want: Threshold{Metric: "p", Percentile: 99.9, Op: OpLess, Limit: 2}, str: "p99.9<2s"},
		{in: "P100<1m", want: Threshold{Metric: "p", Percentile: 100, Op: OpLess, Limit: 60}, str: "p100<1m"},
		{in: "p99{login}<1s", want: Threshold{Metric: "p", Percentile: 99, Command: "login", Op: OpLess, Limit: 1}},
		{in: "mean<100ms", want: Threshold{Metric: "mean", Op: OpLess, Limit: 0.1}},
		{in: "max{poll}<=30s", want: Threshold{Metric: "max", Command: "poll", Op: OpLessEqual, Limit: 30}},
		{in: "errors<1%", want: Threshold{Metric: "errors", Op: OpLess, Limit: 0.01, Percent: true}},
		{in: "errors<=10", want: Threshold{Metric: "errors", Op: OpLessEqual, Limit: 10}},
		{in: "errors{invite}<0.5%", want: Threshold{Metric: "errors", Command: "invite", Op: OpLess, Limit: 0.005, Percent: true}},
		{in: "rps>100", want: Threshold{Metric: "rps", Op: OpGreater, Limit: 100}},
		{in: "rps>=99.5", want: Threshold{Metric: "rps", Op: OpGreaterEqual, Limit: 99.5}},
		{in: "late<1%", want: Threshold{Metric: "late", Op: OpLess, Limit: 0.01, Percent: true}},
		{in: "missed<=0", want: Threshold{Metric: "missed", Op: OpLessEqual, Limit: 0}},
		{in: "lost<=0", want: Threshold{Metric: "lost", Op: OpLessEqual}},
		{in: "duplicated<5", want: Threshold{Metric: "duplicated", Op: OpLess, Limit: 5}},
		{in: "herd<3", want: Threshold{Metric: "herd", Op: OpLess, Limit: 3}},
		{in: "green99<30s", want: Threshold{Metric: "green99", Op: OpLess, Limit: 30}},
		{in: "green100<=1m", want: Threshold{Metric: "green100", Op: OpLessEqual, Limit: 60}},
		{in: "drain<2m", want: Threshold{Metric: "drain", Op: OpLess, Limit: 120}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseThreshold(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			str := tt.str
			if str == "" {
				str = tt.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
			got.text = ""
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseThresholdErrors(t *testing.T) {
	tests := []struct{ in, mention string }{
		{"", "no comparison"},
		{"p99", "no comparison"},
		{"p99 500ms", "no comparison"},
		{"<500ms", "no metric"},
		{"p99<", "no value"},
		{"p99=500ms", `comparison "="`},
		{"p99==500ms", `comparison "="`},
		{"p99<<500ms", "more than one comparison"},
		{"p99<500ms>1ms", "more than one comparison"},
		{"p999<1s", "percentile 999 is not in (0, 100]; the 99.9th is written p99.9"},
		{"p0<1s", "percentile 0 is not in (0, 100]"},
		{"p9x<1s", `percentile "9x" is not a number`},
		{"p<1s", `unknown metric "p"`},
		{"latency<1s", `unknown metric "latency"`},
		{"p99<abc", `value "abc" is not a duration`},
		{"p99<500", `value "500" needs a unit, e.g. 500ms`},
		{"p99<-5ms", `duration "-5ms" is negative`},
		{"p99<5%", "p99 is a duration, not a percentage"},
		{"errors<lots", `value "lots" is not a count or a percentage`},
		{"errors<101%", `percentage "101%" is above 100%`},
		{"errors<-1", `value "-1" is negative`},
		{"errors<NaN", `value "NaN" is not a count`},
		{"rps>fast", `value "fast" is not a number`},
		{"rps>5%", "rps is a number, not a percentage"},
		{"herd<Inf", `value "Inf" is not a number`},
		{"herd{poll}<3", "metric herd takes no {command}"},
		{"p99{login<1s", `command selector "{login" does not end with }`},
		{"p99{}<1s", `command selector "{}" is not {COMMAND}`},
		{"p99}<1s", "has } without {"},
		{"green99<soon", `value "soon" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseThreshold(tt.in)
			if !errors.Is(err, ErrBadThreshold) {
				t.Fatalf("err = %v, want ErrBadThreshold", err)
			}
			if !strings.Contains(err.Error(), tt.mention) || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
				t.Errorf("error %q does not quote the threshold and mention %q", err, tt.mention)
			}
		})
	}
}

func mustThresholds(t *testing.T, in ...string) []Threshold {
	t.Helper()
	var out []Threshold
	for _, s := range in {
		th, err := ParseThreshold(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, th)
	}
	return out
}

func TestCheck(t *testing.T) {
	// sampleReport: 600 polls over 60 s, p50 6 ms, 100 refused at 1 s;
	// 20 invite operations of about 2 s, 4 failed, in none of the totals;
	// an outage Green again after 2.5 s, herd ratio 1; 100 invitations
	// accepted, 3 lost, 2 duplicated.
	rep := sampleReport(t)
	tests := []struct {
		in       string
		crossed  bool
		measured bool
		value    string
	}{
		{"p50<10ms", false, true, ""},
		{"p50<5ms", true, true, "6.003ms"},
		{"p99<500ms", true, true, "1s"},
		{"p99<=1.001s", false, true, ""},
		{"p99{poll}<500ms", true, true, "1s"},
		{"p99{nosuch}<500ms", true, false, ""},
		{"p99{invite}<3s", false, true, ""},
		{"p99{invite}<2s", true, true, "2.019s"},
		{"p50{invite}>=2s", false, true, ""},
		{"errors{invite}<10%", true, true, "20%"},
		{"errors{invite}<=4", false, true, ""},
		{"rps{invite}<0.3", true, true, "0.333333"},
		{"mean<1s", false, true, ""},
		{"max<1s", true, true, "1s"}, // the operations' 2 s do not count
		{"max<=1.001s", false, true, ""},
		{"errors<20%", false, true, ""},
		{"errors<10%", true, true, "16.67%"},
		{"errors<=100", false, true, ""},
		{"errors<100", true, true, "100"},
		{"rps>=10", false, true, ""},
		{"rps>10", true, true, "10"},
		{"late<=0", false, true, ""},
		{"missed<1%", true, false, ""}, // no pacer: nothing offered
		{"missed<=0", false, true, ""},
		{"lost<=0", true, true, "3"},
		{"lost<5%", false, true, ""},
		{"pending<=0", false, true, ""},
		{"pending>0", true, true, "0"},
		{"duplicated<1%", true, true, "2%"},
		{"herd<2", false, true, ""},
		{"herd<1", true, true, "1"},
		{"green100<=2.5s", false, true, ""},
		{"green100<2s", true, true, "2.5s"},
		{"drain<1s", true, true, "2.5s"},
		// The errors are all in the outage and its recovery (30 s to 42.5 s).
		{"steady_errors<1%", false, true, ""},
		{"steady_errors<=0", false, true, ""},
		{"outage_errors<50%", true, true, "76.92%"},
		{"outage_errors<=100", false, true, ""},
		{"outage_load<2", false, true, ""},
		{"outage_load<0.5", true, true, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := Check(rep, mustThresholds(t, tt.in)...)
			if !tt.crossed {
				if len(c) != 0 {
					t.Errorf("crossed: %v", c[0])
				}
				return
			}
			if len(c) != 1 {
				t.Fatalf("not crossed")
			}
			if c[0].Measured != tt.measured {
				t.Errorf("%v: measured = %v, want %v", c[0], c[0].Measured, tt.measured)
			}
			if want := tt.in + " crossed: " + tt.value; tt.measured && c[0].String() != want {
				t.Errorf("String() = %q, want %q", c[0], want)
			}
		})
	}

	t.Run("missing figures", func(t *testing.T) {
		empty := mustReport(t, newTestRecorder(t, t0), t0)
		c := Check(empty, mustThresholds(t, "p99<1s", "herd<3", "lost<=0", "errors<1%", "rps>1", "green99<1m",
			"steady_errors<1%", "outage_errors<1%", "outage_load<3")...)
		want := []string{
			"p99<1s not measured: no latencies recorded",
			"herd<3 not measured: no outage in the report",
			"lost<=0 not measured: no delivery accounting in the report",
			"errors<1% not measured: no requests",
			"rps>1 not measured: the run has no duration",
			"green99<1m not measured: no outage in the report",
			"steady_errors<1% not measured: no steady requests",
			"outage_errors<1% not measured: no outage in the report",
			"outage_load<3 not measured: no outage in the report",
		}
		if len(c) != len(want) {
			t.Fatalf("crossed %v", c)
		}
		for i := range want {
			if c[i].String() != want[i] || c[i].Measured {
				t.Errorf("%d: %q, want %q", i, c[i], want[i])
			}
		}
	})

	t.Run("unknown name", func(t *testing.T) {
		c := Check(rep, mustThresholds(t, "p99{invites}<1s")...)
		want := `p99{invites}<1s not measured: no command or operation "invites" in the report (commands: poll; operations: invite)`
		if len(c) != 1 || c[0].String() != want {
			t.Errorf("crossed %v, want %q", c, want)
		}
		empty := mustReport(t, newTestRecorder(t, t0), t0)
		c = Check(empty, mustThresholds(t, "errors{invite}<1%")...)
		want = `errors{invite}<1% not measured: no command or operation "invite" in the report (commands: none; operations: none)`
		if len(c) != 1 || c[0].String() != want {
			t.Errorf("crossed %v, want %q", c, want)
		}
	})

	t.Run("command before operation", func(t *testing.T) {
		r := newTestRecorder(t, t0)
		r.Record("x", t0, t0.Add(time.Millisecond), Outcome{})
		r.RecordOperation("x", t0, t0.Add(time.Second), Outcome{Class: ClassOffline})
		rep := mustReport(t, r, t0.Add(time.Second))
		if c := Check(rep, mustThresholds(t, "max{x}<2ms", "errors{x}<=0")...); len(c) != 0 {
			t.Errorf("crossed %v: the operation x was measured, not the command", c)
		}
	})

	t.Run("worst outage", func(t *testing.T) {
		r := sampleReport(t)
		second := r.Outages[0]
		second.Green99 = ptr(Duration(10 * time.Second))
		second.Outage = "down:1s@50s"
		r.Outages = append(r.Outages, second)
		if c := Check(r, mustThresholds(t, "green99<5s")...); len(c) != 1 || c[0].Value != 10 {
			t.Errorf("crossed = %v", c)
		}
		r.Outages[1].Green99 = nil
		if c := Check(r, mustThresholds(t, "green99<5s")...); len(c) != 1 || c[0].Measured ||
			!strings.Contains(c[0].Reason, "not reached before the end of the run after outage down:1s@50s") {
			t.Errorf("crossed = %v", c)
		}
	})
}

func TestThresholdHelp(t *testing.T) {
	h := ThresholdHelp()
	for _, want := range []string{"pNN[{cmd}]", "errors[{cmd}]", "herd ", "count or %", "{invite}", "steady_errors ", "outage_errors ", "outage_load ", "steady_errors<1%"} {
		if !strings.Contains(h, want) {
			t.Errorf("help lacks %q:\n%s", want, h)
		}
	}
}

func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"p99<500ms", "errors<1%", "p50{login}<=50ms", "rps>100", "herd<3", "p99.9>=1s", "x", "<", "p99<5%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			if !errors.Is(err, ErrBadThreshold) {
				t.Fatalf("error %v does not wrap ErrBadThreshold", err)
			}
			return
		}
		back, err := ParseThreshold(th.String())
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", th.String(), s, err)
		}
		if back != th {
			t.Fatalf("%q → %+v → %q → %+v", s, th, th.String(), back)
		}
	})
}

// TestEvaluate: every threshold gets a result, held or not, with its check
// mark; Check returns the same minus the held ones.
func TestEvaluate(t *testing.T) {
	rep := sampleReport(t)
	ts := mustThresholds(t, "p50<10ms", "p50<5ms", "herd<2", "p99{nosuch}<1s")
	got := Evaluate(rep, ts...)
	want := []string{
		"✓ p50<10ms held: 6.003ms",
		"✗ p50<5ms crossed: 6.003ms",
		"✓ herd<2 held: 1",
		`✗ p99{nosuch}<1s not measured: no command or operation "nosuch" in the report (commands: poll; operations: invite)`,
	}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("%d: %q, want %q", i, got[i], want[i])
		}
	}
	if got[0].Held != true || got[1].Held || !got[1].Measured || got[3].Measured {
		t.Errorf("results %+v", got)
	}
	crossed := Check(rep, ts...)
	if len(crossed) != 2 || crossed[0].Threshold.String() != "p50<5ms" || crossed[1].Measured {
		t.Errorf("Check = %v", crossed)
	}
}

// TestCheckNames: before a run, a {cmd} must be one of KnownNames, the
// commands the SDK sends and the user operations.
func TestCheckNames(t *testing.T) {
	names := KnownNames()
	for _, want := range []string{"loginuser", "registerdevice", "getmessages", "ackmessages", "sendinvitation", "healthz", "invite", "deliver"} {
		if !slices.Contains(names, want) {
			t.Errorf("KnownNames %v lacks %q", names, want)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("KnownNames %v not sorted", names)
	}
	if err := CheckNames(names, mustThresholds(t, "p99<1s", "p99{loginuser}<1s", "errors{deliver}<1%")...); err != nil {
		t.Errorf("known names refused: %v", err)
	}
	err := CheckNames(names, mustThresholds(t, "p99<1s", "p99{login}<1s")...)
	if !errors.Is(err, ErrBadThreshold) || !strings.Contains(err.Error(), `unknown command or operation "login"`) ||
		!strings.Contains(err.Error(), "loginuser") || !strings.Contains(err.Error(), "invite") {
		t.Errorf("CheckNames = %v", err)
	}
}
