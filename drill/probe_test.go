//go:build drill && linux

package drill

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/regfleet/regfleet/internal/nagios"
	"github.com/regfleet/regfleet/regsim"
)

// Nagios plugin exit codes, as cmd/regprobe returns them.
const (
	probeOK       = 0
	probeWarning  = 1
	probeCritical = 2
	probeUnknown  = 3
)

// probeResult is one run of cmd/regprobe, as a Nagios scheduler runs it.
type probeResult struct {
	Code   int
	Line   string // the status line
	Detail string // the per-endpoint lines, joined with "; "
	Format error  // why a monitoring system would misread the output, nil if it would not
}

func (p probeResult) String() string {
	s := p.Line
	if p.Detail != "" {
		s += " [" + p.Detail + "]"
	}
	return s
}

// urlArgs are the probe's arguments for one check of urls (an instance
// check with one).
func urlArgs(urls ...string) []string {
	var args []string
	for _, u := range urls {
		args = append(args, "--url", u)
	}
	return args
}

// serviceArgs are the probe's arguments for the check of the service at lb,
// with the instances behind it.
func serviceArgs(lb string, instances ...string) []string {
	args := []string{"--url", lb}
	for _, u := range instances {
		args = append(args, "--instance", u)
	}
	return args
}

// runProbe runs the regprobe binary with endpoint arguments, logged in as
// user0 (so that the check is a full login + getsettings round trip), as an
// administrator's command definition would: -t 3 -w 1500 -c 2500 (ms).
func runProbe(ctx context.Context, bin string, endpoints ...string) probeResult {
	args := append([]string{"-t", "3", "-w", "1500", "-c", "2500", "--user", "user0"}, endpoints...)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "REGPROBE_PASSWORD="+regsim.DefaultPassword)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	r := probeResult{Code: probeOK}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		r.Code, r.Line = probeUnknown, "regprobe did not run: "+err.Error()
		return r
	}
	_, r.Format = nagios.ParseOutput(out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	r.Line = lines[0]
	if len(lines) > 1 {
		r.Detail = strings.Join(lines[1:], "; ")
	}
	return r
}
