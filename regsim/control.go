package regsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ControlState is the answer of the control endpoint's GET /faults and of
// every successful POST: the faults in force and the poll interval. In JSON
// the durations of a Fault are integers of nanoseconds, as encoding/json
// writes a time.Duration; Summary is the readable form.
type ControlState struct {
	Instances           []InstanceState `json:"instances"`
	StoreDown           bool            `json:"store_down"`
	PollIntervalSeconds int64           `json:"poll_interval_seconds"`
}

// InstanceState is one instance in a ControlState.
type InstanceState struct {
	Index   int    `json:"index"`
	URL     string `json:"url"`
	Fault   Fault  `json:"fault"`
	Summary string `json:"summary"` // Fault.String()
}

// State returns the faults in force and the poll interval.
func (c *Cluster) State() ControlState {
	st := ControlState{
		StoreDown:           c.store.dbDown.Load(),
		PollIntervalSeconds: c.store.pollSeconds(),
	}
	for _, in := range c.instances {
		f := in.Fault()
		st.Instances = append(st.Instances, InstanceState{Index: in.index, URL: in.URL(), Fault: f, Summary: f.String()})
	}
	return st
}

// ControlEndpoints returns the index of the control endpoint, which it
// serves at GET / as {"endpoints": [...]}: one line per request it takes.
func ControlEndpoints() []string {
	return []string{
		"GET  /            this list",
		"GET  /counters    requests, replies and client states as JSON",
		"GET  /faults      each instance's faults, store_down and the poll interval",
		"POST /fault?instance=N|all&mode=down|unavailable|hang|latency|error-rate|reset|clear" +
			"[&clear=true][&retry-after=5s][&latency=100ms][&jitter=50ms][&rate=0.5]   (mode=latency needs latency=)",
		"POST /fault?mode=dbdown[&clear=true]   the database, shared by every instance (as /store)",
		"POST /store?mode=dbdown|clear",
		"POST /pollinterval?seconds=N",
	}
}

// maxControlBody bounds the body of a control request (they carry none).
const maxControlBody = 4 << 10

func (c *Cluster) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"endpoints": ControlEndpoints()})
	})
	mux.HandleFunc("GET /counters", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, c.Counters())
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, c.State())
	})
	mux.HandleFunc("POST /fault", func(w http.ResponseWriter, r *http.Request) {
		if err := c.controlFault(r); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, c.State())
	})
	mux.HandleFunc("POST /store", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("mode") {
		case "dbdown":
			c.SetStoreFault(true)
		case "clear", "":
			c.SetStoreFault(false)
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "mode must be dbdown or clear (instance faults are at POST /fault)"})
			return
		}
		writeJSON(w, http.StatusOK, c.State())
	})
	mux.HandleFunc("POST /pollinterval", func(w http.ResponseWriter, r *http.Request) {
		d, err := parseDuration(r.URL.Query().Get("seconds"), time.Second)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "seconds: " + err.Error()})
			return
		}
		c.SetPollInterval(d)
		writeJSON(w, http.StatusOK, c.State())
	})
	return http.MaxBytesHandler(mux, maxControlBody)
}

// controlFault applies POST /fault.
func (c *Cluster) controlFault(r *http.Request) error {
	q := r.URL.Query()
	if q.Get("mode") == "dbdown" {
		return c.controlDBDown(q)
	}
	var targets []*Instance
	switch v := q.Get("instance"); v {
	case "all":
		targets = c.instances
	default:
		i, err := strconv.Atoi(v)
		if err != nil || c.Instance(i) == nil {
			return fmt.Errorf("instance must be 0…%d or all", len(c.instances)-1)
		}
		targets = []*Instance{c.Instance(i)}
	}
	off := false
	if v := q.Get("clear"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("clear: %w", err)
		}
		off = b
	}
	mode := q.Get("mode")
	// Validate every parameter before touching any instance.
	retryAfter, err := parseDuration(q.Get("retry-after"), time.Second)
	if err != nil {
		return fmt.Errorf("retry-after: %w", err)
	}
	latency, err := parseDuration(q.Get("latency"), time.Millisecond)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	if mode == "latency" && !off && !q.Has("latency") {
		return errors.New("mode=latency needs latency= (e.g. latency=100ms, plain numbers are ms; jitter= is optional)")
	}
	jitter, err := parseDuration(q.Get("jitter"), time.Millisecond)
	if err != nil {
		return fmt.Errorf("jitter: %w", err)
	}
	rate := 1.0
	if v := q.Get("rate"); v != "" {
		rate, err = strconv.ParseFloat(v, 64)
		if err != nil || !(rate >= 0 && rate <= 1) { // NaN too
			return fmt.Errorf("rate must be a number in [0, 1]")
		}
	}
	apply := func(f Fault) (Fault, error) {
		switch mode {
		case "clear":
			return Fault{}, nil
		case "down":
			f.Down = !off
		case "unavailable":
			f.Unavailable, f.RetryAfter = !off, retryAfter
		case "hang":
			f.Hang = !off
		case "latency":
			f.Latency, f.Jitter = latency, jitter
			if off {
				f.Latency, f.Jitter = 0, 0
			}
		case "error-rate":
			f.ErrorRate = rate
			if off {
				f.ErrorRate = 0
			}
		case "reset":
			f.Reset = !off
		default:
			return f, fmt.Errorf("mode must be one of down, unavailable, hang, latency, error-rate, reset, clear, or dbdown (the database, also at POST /store?mode=dbdown)")
		}
		if off && mode == "unavailable" {
			f.RetryAfter = 0
		}
		return f, nil
	}
	if _, err := apply(Fault{}); err != nil {
		return err
	}
	for _, in := range targets {
		err := in.updateFault(func(f Fault) Fault {
			f, _ = apply(f) // the mode was checked above
			return f
		})
		if err != nil {
			return fmt.Errorf("instance %d: %w", in.index, err)
		}
	}
	return nil
}

// controlDBDown applies POST /fault?mode=dbdown[&clear=true]: the store
// fault, which is where users look for it, not only at /store.
func (c *Cluster) controlDBDown(q url.Values) error {
	if v := q.Get("instance"); v != "" && v != "all" {
		return errors.New("mode=dbdown: the database is shared by every instance; leave out instance= (or give instance=all), or POST /store?mode=dbdown")
	}
	down := true
	if v := q.Get("clear"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("clear: %w", err)
		}
		down = !b
	}
	c.SetStoreFault(down)
	return nil
}

// parseDuration parses a Go duration ("150ms") or a plain number of units.
// "" is 0.
func parseDuration(v string, unit time.Duration) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if !(n >= 0 && n <= float64(365*24*time.Hour/unit)) { // NaN too
			return 0, fmt.Errorf("%q out of range", v)
		}
		return time.Duration(n * float64(unit)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", v)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", v)
	}
	return d, nil
}

// writeJSON answers v as indented JSON; "&" and "<" stay as they are, so
// that the index reads by hand as it is typed.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
