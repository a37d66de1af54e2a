package loadgen

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Outage modes an Outage can switch on in the embedded cluster.
const (
	OutageDown        = "down"        // listeners closed: connection refused
	OutageUnavailable = "unavailable" // 503 with Retry-After
	OutageHang        = "hang"        // connections accepted, never answered
	OutageReset       = "reset"       // connections closed mid-reply
	OutageDBDown      = "dbdown"      // the shared store is down: exception -12507
)

// Outage is one fault window of a run against the embedded cluster.
type Outage struct {
	// Instances are the indexes (from 0) of the instances the fault hits;
	// nil means every instance. Ignored for OutageDBDown, which hits the
	// shared store.
	Instances []int
	// Mode is one of the Outage… constants.
	Mode string
	// At is when the fault starts, from the start of the run.
	At time.Duration
	// Duration is how long it lasts.
	Duration time.Duration
}

// End is when the outage ends, from the start of the run.
func (o Outage) End() time.Duration { return o.At + o.Duration }

// String returns the outage in the form ParseOutage reads.
func (o Outage) String() string {
	var b strings.Builder
	if o.Instances != nil {
		b.WriteString("instances=")
		for i, n := range o.Instances {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(n))
		}
		b.WriteByte(':')
	}
	fmt.Fprintf(&b, "%s:%s@%s", o.Mode, o.Duration, o.At)
	return b.String()
}

// ParseOutage reads an outage written as [instances=I[,J…]:]MODE:DURATION@AT,
// for example "down:20s@30s", "dbdown:20s@30s" or "instances=1:hang:15s@10s".
func ParseOutage(s string) (Outage, error) {
	var o Outage
	bad := func(format string, args ...any) (Outage, error) {
		return Outage{}, fmt.Errorf("outage %q: %s (want [instances=I,J:]MODE:DURATION@AT, e.g. down:20s@30s)", s, fmt.Sprintf(format, args...))
	}
	rest := strings.TrimSpace(s)
	if list, ok := strings.CutPrefix(rest, "instances="); ok {
		ids, after, found := strings.Cut(list, ":")
		if !found {
			return bad("no mode after the instance list")
		}
		for _, f := range strings.Split(ids, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				return bad("instance %q is not an index from 0", f)
			}
			o.Instances = append(o.Instances, n)
		}
		rest = after
	}
	mode, timing, found := strings.Cut(rest, ":")
	if !found {
		return bad("no duration")
	}
	switch mode {
	case OutageDown, OutageUnavailable, OutageHang, OutageReset, OutageDBDown:
		o.Mode = mode
	default:
		return bad("unknown mode %q (one of down, unavailable, hang, reset, dbdown)", mode)
	}
	if o.Mode == OutageDBDown && o.Instances != nil {
		return bad("dbdown hits the shared store; it takes no instance list")
	}
	dur, at, found := strings.Cut(timing, "@")
	if !found {
		return bad("no @AT start time")
	}
	var err error
	if o.Duration, err = time.ParseDuration(dur); err != nil || o.Duration <= 0 {
		return bad("duration %q is not a positive Go duration", dur)
	}
	if o.At, err = time.ParseDuration(at); err != nil || o.At < 0 {
		return bad("start %q is not a non-negative Go duration", at)
	}
	return o, nil
}

// Shard says which part of the fleet one loadgen process runs: clients whose
// index i satisfies i % Count == Index. The zero value means the whole fleet.
type Shard struct {
	Index int
	Count int
}

// ErrBadShard reports a shard that is not of the form i/n with 0 <= i < n.
var ErrBadShard = errors.New("shard must be i/n with 0 <= i < n")

// ParseShard reads a shard written as "i/n", e.g. "0/4".
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: %w", s, ErrBadShard)
	}
	idx, err1 := strconv.Atoi(i)
	cnt, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || cnt < 1 || idx < 0 || idx >= cnt {
		return Shard{}, fmt.Errorf("shard %q: %w", s, ErrBadShard)
	}
	return Shard{Index: idx, Count: cnt}, nil
}

// Owns reports whether client number i of the fleet belongs to this shard.
func (s Shard) Owns(i int) bool {
	if s.Count <= 1 {
		return true
	}
	return i%s.Count == s.Index
}

// String returns "i/n", or "" for the whole fleet.
func (s Shard) String() string {
	if s.Count <= 1 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}
