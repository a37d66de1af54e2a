package nagios

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestRangeAlert is the table of the guidelines' examples: which values raise
// the alert of each range.
func TestRangeAlert(t *testing.T) {
	tests := []struct {
		in      string
		alert   []float64
		noAlert []float64
	}{
		{"10", []float64{-1, -0.001, 10.001, 11, math.Inf(1)}, []float64{0, 5, 10}},
		{"10:", []float64{9.999, 0, -5, math.Inf(-1)}, []float64{10, 11, math.Inf(1)}},
		{"~:10", []float64{10.5, 11, math.Inf(1)}, []float64{10, 0, -1e9, math.Inf(-1)}},
		{"10:20", []float64{9, 21, 0}, []float64{10, 15, 20}},
		{"@10:20", []float64{10, 15, 20}, []float64{9.99, 20.01, 0}},
		{"@10", []float64{0, 5, 10}, []float64{-1, 11}},
		{"0.5", []float64{0.51, -0.1}, []float64{0, 0.2, 0.5}},
		{"-5:-1", []float64{0, -6}, []float64{-5, -1, -3}},
		{":10", []float64{-1, 11}, []float64{0, 10}},
		{"~:", nil, []float64{math.Inf(-1), 0, math.Inf(1)}},
		{"5:5", []float64{4.9, 5.1}, []float64{5}},
		{" 10 ", []float64{11}, []float64{10}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRange(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tt.alert {
				if !r.Alert(v) {
					t.Errorf("%v does not raise the alert of %q (%+v)", v, tt.in, r)
				}
			}
			for _, v := range tt.noAlert {
				if r.Alert(v) {
					t.Errorf("%v raises the alert of %q (%+v)", v, tt.in, r)
				}
			}
			if !r.Alert(math.NaN()) == !r.Inside {
				t.Errorf("NaN: alert %v, want %v (NaN is outside every range)", r.Alert(math.NaN()), !r.Inside)
			}
		})
	}
}

func TestParseRangeFields(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		in   string
		want Range
		str  string
	}{
		{"10", Range{0, 10, false}, "10"},
		{"10:", Range{10, inf, false}, "10:"},
		{"~:10", Range{math.Inf(-1), 10, false}, "~:10"},
		{"10:20", Range{10, 20, false}, "10:20"},
		{"@10:20", Range{10, 20, true}, "@10:20"},
		{"0:10", Range{0, 10, false}, "10"},
		{"0:", Range{0, inf, false}, "0:"},
		{"~:", Range{math.Inf(-1), inf, false}, "~:"},
		{"@0.25", Range{0, 0.25, true}, "@0.25"},
		{"-0:3", Range{0, 3, false}, "3"},
		{"+1.50:2.", Range{1.5, 2, false}, "1.5:2"},
		{".5", Range{0, 0.5, false}, "0.5"},
		{"-3:-2", Range{-3, -2, false}, "-3:-2"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRange(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if r != tt.want {
				t.Errorf("ParseRange(%q) = %+v, want %+v", tt.in, r, tt.want)
			}
			if s := r.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
		})
	}
}

func TestParseRangeErrors(t *testing.T) {
	for _, in := range []string{
		"", " ", "@", ":", "@:", "20:10", "@5:1", "abc", "10ms", "1e3", "1E3", "inf", "NaN", "0x10",
		"1:2:3", "~", "~10", "10:~", "--1", "1..2", ".", "-", "1,5", "1 2", "@@1", "1:@2",
		"1" + strings.Repeat("0", 400), "@" + strings.Repeat("9", 320) + ":",
	} {
		if r, err := ParseRange(in); err == nil {
			t.Errorf("ParseRange(%q) = %+v, want an error", in, r)
		} else if !errors.Is(err, ErrRange) {
			t.Errorf("ParseRange(%q): %v does not wrap ErrRange", in, err)
		}
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		rng  string
		v    float64
		unit string
		want string
	}{
		{"500", 712, "ms", "712 ms > 500 ms"},
		{"0.5", 0.62, "ms", "0.62 ms > 0.5 ms"},
		{"0.2", 0.213, "ms", "0.213 ms > 0.2 ms"},
		{"10:", 3, "", "3 < 10"},
		{"10:20", 25, "ms", "25 ms > 20 ms"},
		{"@10:20", 15, "ms", "15 ms inside @10:20 ms"},
		{"10:20", 15, "", "15 within 10:20"},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.rng)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Describe(tt.v, tt.unit); got != tt.want {
			t.Errorf("%q.Describe(%v) = %q, want %q", tt.rng, tt.v, got, tt.want)
		}
	}
}

func TestThresholdsStatus(t *testing.T) {
	w, _ := ParseRange("500")
	c, _ := ParseRange("2000")
	th := Thresholds{Warning: &w, Critical: &c}
	for v, want := range map[float64]Status{0: OK, 500: OK, 500.1: Warning, 2000: Warning, 2001: Critical, -1: Critical} {
		if got := th.Status(v); got != want {
			t.Errorf("Status(%v) = %v, want %v", v, got, want)
		}
	}
	if got := (Thresholds{}).Status(1e9); got != OK {
		t.Errorf("no thresholds: %v, want OK", got)
	}
}

func TestWorst(t *testing.T) {
	tests := []struct {
		in   []Status
		want Status
	}{
		{nil, OK},
		{[]Status{OK, Warning}, Warning},
		{[]Status{Warning, Unknown}, Unknown},
		{[]Status{Unknown, Critical, Warning}, Critical},
		{[]Status{OK, Status(7)}, Unknown},
	}
	for _, tt := range tests {
		if got := Worst(tt.in...); got != tt.want {
			t.Errorf("Worst(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for s, want := range map[Status]string{OK: "OK", Warning: "WARNING", Critical: "CRITICAL", Unknown: "UNKNOWN", -1: "UNKNOWN"} {
		if s.String() != want {
			t.Errorf("Status(%d).String() = %q", int(s), s.String())
		}
	}
}

// FuzzParseRange checks that every range ParseRange accepts prints in a form
// it parses back to the same range, and that a range and its printed form
// raise the same alerts.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10", "10:", "~:10", "10:20", "@10:20", "@~:0.5", "-1:1", "0.001", ":", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRange(s)
		if err != nil {
			if !errors.Is(err, ErrRange) {
				t.Fatalf("ParseRange(%q): %v does not wrap ErrRange", s, err)
			}
			return
		}
		if r.Start > r.End || math.IsNaN(r.Start) || math.IsNaN(r.End) {
			t.Fatalf("ParseRange(%q) = %+v: not a range", s, r)
		}
		printed := r.String()
		back, err := ParseRange(printed)
		if err != nil {
			t.Fatalf("ParseRange(%q) = %+v prints %q, which does not parse: %v", s, r, printed, err)
		}
		if back != r {
			t.Fatalf("ParseRange(%q) = %+v prints %q, which parses to %+v", s, r, printed, back)
		}
		if again := back.String(); again != printed {
			t.Fatalf("String is not stable: %q then %q", printed, again)
		}
		for _, v := range []float64{r.Start, r.End, math.Nextafter(r.Start, math.Inf(-1)), math.Nextafter(r.End, math.Inf(1)), 0} {
			if r.Alert(v) != back.Alert(v) {
				t.Fatalf("%q and %q disagree on %v", s, printed, v)
			}
			in := v >= r.Start && v <= r.End
			if r.Alert(v) != (in == r.Inside) {
				t.Fatalf("%q: Alert(%v) = %v with Inside %v", s, v, r.Alert(v), r.Inside)
			}
		}
	})
}
