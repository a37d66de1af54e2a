package nagios

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func rng(t *testing.T, s string) *Range {
	t.Helper()
	r, err := ParseRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func num(v float64) *float64 { return &v }

func TestPerfString(t *testing.T) {
	tests := []struct {
		p    Perf
		want string
	}{
		{Perf{Label: "time", Value: 0.2, UOM: "ms", Warn: rng(t, "500"), Crit: rng(t, "2000"), Min: num(0), Max: num(10000)}, "time=0.2ms;500;2000;0;10000"},
		{Perf{Label: "time", Unknown: true, UOM: "ms", Warn: rng(t, "500"), Crit: rng(t, "2000"), Min: num(0), Max: num(10000)}, "time=U;500;2000;0;10000"},
		{Perf{Label: "up", Value: 1, Crit: rng(t, "1:"), Min: num(0), Max: num(2)}, "up=1;;1:;0;2"},
		{Perf{Label: "up", Value: 2}, "up=2"},
		{Perf{Label: "reg1:443 time", Value: 12.345, UOM: "ms"}, "'reg1:443 time'=12.345ms"},
		{Perf{Label: "it's", Value: 1}, "'it''s'=1"},
		{Perf{Label: "a=b|c\nd", Value: 1}, "a_b_c_d=1"},
		{Perf{Label: "", Value: 1}, "_=1"},
		{Perf{Label: "big", Value: 1e21}, "big=1000000000000000000000"},
		{Perf{Label: "tiny", Value: 0.000001, UOM: "s"}, "tiny=0.000001s"},
		{Perf{Label: "neg", Value: math.Copysign(0, -1)}, "neg=0"},
		{Perf{Label: "max only", Value: 3, Max: num(5)}, "'max only'=3;;;;5"},
		{Perf{Label: "in", Value: 15, Warn: rng(t, "@10:20"), Crit: rng(t, "~:30")}, "in=15;@10:20;~:30"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := tt.p.String()
			if got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			// And a monitoring system reads it back as written.
			o, err := ParseOutput("X OK - fine | " + got)
			if err != nil {
				t.Fatalf("ParseOutput: %v", err)
			}
			if len(o.Perf) != 1 {
				t.Fatalf("%d values, want 1", len(o.Perf))
			}
			back := o.Perf[0]
			if back.Unknown != tt.p.Unknown || (!back.Unknown && back.Value != tt.p.Value) || (!back.Unknown && back.UOM != tt.p.UOM) {
				t.Errorf("read back %+v", back)
			}
		})
	}
}

func TestParseOutput(t *testing.T) {
	out := "REGSERVER WARNING - 1/2 endpoints up | up=1;2:;1:;0;2 'a:80 time'=0.4ms;500;2000;0;10000 'b:80 time'=U;500;2000;0;10000\n" +
		"http://a: up, 0.4 ms\nhttp://b: down: connection refused | 'late one'=3s;;;0\n"
	o, err := ParseOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	if o.Summary != "REGSERVER WARNING - 1/2 endpoints up" {
		t.Errorf("summary %q", o.Summary)
	}
	if len(o.Long) != 2 || o.Long[1] != "http://b: down: connection refused" {
		t.Errorf("long text %q", o.Long)
	}
	if len(o.Perf) != 4 {
		t.Fatalf("perf %+v", o.Perf)
	}
	up, ok := o.Lookup("up")
	if !ok || up.Value != 1 || up.Warn == nil || up.Warn.String() != "2:" || up.Crit.String() != "1:" || *up.Min != 0 || *up.Max != 2 {
		t.Errorf("up = %+v", up)
	}
	b, ok := o.Lookup("b:80 time")
	if !ok || !b.Unknown {
		t.Errorf("b:80 time = %+v", b)
	}
	if p, ok := o.Lookup("late one"); !ok || p.Value != 3 || p.UOM != "s" {
		t.Errorf("late one = %+v", p)
	}
	if _, ok := o.Lookup("nope"); ok {
		t.Error("Lookup of a missing label found one")
	}
}

func TestParseOutputRejects(t *testing.T) {
	for _, out := range []string{
		"",
		" | a=1",
		"X OK | time_ms",
		"X OK | a b=1",
		"X OK | 'a b=1",
		"X OK | 'a'b=1",
		"X OK | a=",
		"X OK | a=1e3",
		"X OK | a=1;2;3;4;5;6",
		"X OK | a=1xyz",
		"X OK | a=1;;;x",
		"X OK | a=1;20:10",
		"X OK | a=Ums", // the unknown value carries no unit
		"X OK | a=NaN",
		"X OK | =1",
		"X OK | ''=1",
		"X OK\nlong | a=",
	} {
		if o, err := ParseOutput(out); err == nil {
			t.Errorf("ParseOutput(%q) = %+v, want an error", out, o)
		} else if !errors.Is(err, ErrOutput) {
			t.Errorf("ParseOutput(%q): %v does not wrap ErrOutput", out, err)
		}
	}
}

func TestFormatPerf(t *testing.T) {
	got := FormatPerf([]Perf{{Label: "a", Value: 1}, {Label: "b c", Value: math.Pi, UOM: "s"}})
	if !strings.HasPrefix(got, "a=1 'b c'=3.14159") {
		t.Errorf("FormatPerf = %q", got)
	}
	o, err := ParseOutput("X OK | " + got)
	if err != nil || len(o.Perf) != 2 {
		t.Errorf("ParseOutput(%q) = %+v, %v", got, o, err)
	}
}
