package loadgen

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseOutage(t *testing.T) {
	tests := []struct {
		in   string
		want Outage
	}{
		{"down:20s@30s", Outage{Mode: OutageDown, Duration: 20 * time.Second, At: 30 * time.Second}},
		{"dbdown:20s@30s", Outage{Mode: OutageDBDown, Duration: 20 * time.Second, At: 30 * time.Second}},
		{"instances=1:hang:15s@10s", Outage{Instances: []int{1}, Mode: OutageHang, Duration: 15 * time.Second, At: 10 * time.Second}},
		{"instances=0,2:unavailable:1m@0s", Outage{Instances: []int{0, 2}, Mode: OutageUnavailable, Duration: time.Minute}},
		{"reset:500ms@1s", Outage{Mode: OutageReset, Duration: 500 * time.Millisecond, At: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOutage(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			back, err := ParseOutage(got.String())
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("String() %q does not parse back: %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestParseOutageErrors(t *testing.T) {
	tests := []struct{ in, mention string }{
		{"", "no duration"},
		{"down", "no duration"},
		{"flood:10s@1s", `unknown mode "flood"`},
		{"down:10s", "no @AT"},
		{"down:ten@1s", `duration "ten"`},
		{"down:0s@1s", `duration "0s"`},
		{"down:10s@-1s", `start "-1s"`},
		{"instances=a:down:1s@1s", `instance "a"`},
		{"instances=-1:down:1s@1s", `instance "-1"`},
		{"instances=1", "no mode"},
		{"instances=1:dbdown:1s@1s", "takes no instance list"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseOutage(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestParseShard(t *testing.T) {
	s, err := ParseShard("1/4")
	if err != nil || s != (Shard{Index: 1, Count: 4}) {
		t.Fatalf("ParseShard(1/4) = %+v, %v", s, err)
	}
	var owned []int
	for i := range 10 {
		if s.Owns(i) {
			owned = append(owned, i)
		}
	}
	if !reflect.DeepEqual(owned, []int{1, 5, 9}) {
		t.Errorf("shard 1/4 owns %v", owned)
	}
	if !(Shard{}).Owns(7) {
		t.Error("the zero shard does not own every client")
	}
	for _, bad := range []string{"", "1", "4/4", "-1/2", "0/0", "a/b", "1/2/3"} {
		if _, err := ParseShard(bad); !errors.Is(err, ErrBadShard) {
			t.Errorf("ParseShard(%q) err = %v, want ErrBadShard", bad, err)
		}
	}
}
