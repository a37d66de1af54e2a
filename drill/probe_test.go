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
}

func (p probeResult) String() string {
	s := p.Line
	if p.Detail != "" {
		s += " [" + p.Detail + "]"
	}
	return s
}

// runProbe runs the regprobe binary against urls, logged in as user0 (so
// that the check is a full login + getsettings round trip).
func runProbe(ctx context.Context, bin string, urls ...string) probeResult {
	args := []string{"--timeout", "3s", "--warning-latency", "1500ms", "--critical-latency", "2500ms", "--user", "user0"}
	for _, u := range urls {
		args = append(args, "--url", u)
	}
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
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	r.Line = lines[0]
	if len(lines) > 1 {
		r.Detail = strings.Join(lines[1:], "; ")
	}
	return r
}
