package loadgen

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseWindow(t *testing.T) {
	for in, want := range map[string]Window{
		"20s+15s":    {At: 20 * time.Second, Duration: 15 * time.Second},
		"0s+1m":      {Duration: time.Minute},
		"0+1s":       {Duration: time.Second},
		"1m30s+2m":   {At: 90 * time.Second, Duration: 2 * time.Minute},
		" 5s + 5s ":  {At: 5 * time.Second, Duration: 5 * time.Second},
		"1.5s+500ms": {At: 1500 * time.Millisecond, Duration: 500 * time.Millisecond},
	} {
		w, err := ParseWindow(in)
		if err != nil || w != want {
			t.Errorf("ParseWindow(%q) = %+v, %v; want %+v", in, w, err, want)
		}
	}
	if s := (Window{At: 20 * time.Second, Duration: 15 * time.Second}).String(); s != "20s+15s" {
		t.Errorf("String() = %q", s)
	}
	for in, mention := range map[string]string{
		"20s":               "no +",
		"+15s":              "no start",
		"20s+":              "no duration",
		"20s+0s":            "duration is 0",
		"20s+-5s":           "has a sign",
		"-1s+2s":            "has a sign",
		"soon+1s":           `start "soon" is not a duration`,
		"1s+15":             `duration "15" is not a duration`,
		"20s+15s+1s":        `duration "15s+1s"`,
		"2562047h+2562047h": "too far",
	} {
		_, err := ParseWindow(in)
		if !errors.Is(err, ErrBadWindow) || !strings.Contains(err.Error(), mention) || !strings.Contains(err.Error(), "e.g. 20s+15s") {
			t.Errorf("ParseWindow(%q) = %v, want ErrBadWindow mentioning %q", in, err, mention)
		}
	}
}

func FuzzParseWindow(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzParseWindow.
	for _, s := range []string{"20s+15s", "0s+1m", "x", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			if !errors.Is(err, ErrBadWindow) {
				t.Fatalf("error %v does not wrap ErrBadWindow", err)
			}
			return
		}
		if w.At < 0 || w.Duration <= 0 || w.End() < w.At {
			t.Fatalf("%q → %+v", s, w)
		}
		back, err := ParseWindow(w.String())
		if err != nil || back != w {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, w, w.String(), back, err)
		}
	})
}

func TestCheckConfigOutageWindows(t *testing.T) {
	w := func(s string) Window {
		w, err := ParseWindow(s)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	ext := []string{"https://reg.staging"}
	tests := []struct {
		name    string
		cfg     Config
		mention string // "": accepted
	}{
		{"external", Config{URLs: ext, Duration: time.Minute, OutageWindows: []Window{w("20s+15s"), w("40s+20s")}}, ""},
		{"ends after the run", Config{URLs: ext, Duration: time.Minute, OutageWindows: []Window{w("50s+20s")}},
			"OutageWindows 50s+20s ends at 1m10s, after the run (Duration 1m0s)"},
		{"embedded cluster", Config{OutageWindows: []Window{w("20s+15s")}}, "OutageWindows 20s+15s declares an outage of an external cluster (URLs); the embedded cluster switches its own with Outages"},
		{"zero duration", Config{URLs: ext, OutageWindows: []Window{{At: time.Second}}}, "duration positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckConfig(tt.cfg)
			if tt.mention == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("CheckConfig = %v, want ErrConfig mentioning %q", err, tt.mention)
			}
		})
	}
}
