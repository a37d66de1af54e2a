//go:build drill && linux

package drill

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// waitUntil checks cond every tick until it holds or timeout passes (or ctx
// ends). It reports how long it waited and whether cond held. It is the
// only way the drill waits for a condition: bounded, never a bare sleep.
func waitUntil(ctx context.Context, timeout, tick time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if cond() {
			return time.Since(start), true
		}
		select {
		case <-ctx.Done():
			return time.Since(start), false
		case <-deadline.C:
			return time.Since(start), cond()
		case <-t.C:
		}
	}
}

// observe lets d of real time pass (ctx permitting). The drill uses it only
// for measurement windows (a steady rate, traffic while a fault holds), not
// in place of waiting for a condition.
func observe(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// observeUntil observes until the wall clock reaches at.
func observeUntil(ctx context.Context, at time.Time) error { return observe(ctx, time.Until(at)) }

// child is a child process whose output goes to a log file. Its Wait runs
// on a goroutine that ends when the process does; stop always reaps it.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // set before done is closed
	once    sync.Once
	stopErr error
}

// startChild starts bin with args, stdout and stderr appended to logPath.
// The child is killed if the drill process dies (Pdeathsig).
func startChild(name, logPath, bin string, args ...string) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILL, and reaps the
// process. It is idempotent. An exit caused by the signal is not an error.
func (c *child) stop(grace time.Duration) error {
	c.once.Do(func() {
		if !c.exited() {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			t := time.NewTimer(grace)
			select {
			case <-c.done:
			case <-t.C:
				_ = c.cmd.Process.Kill()
				<-c.done
			}
			t.Stop()
			var ee *exec.ExitError
			if errors.As(c.err, &ee) && !ee.Exited() {
				return // killed by our signal
			}
		}
		c.stopErr = c.err
	})
	return c.stopErr
}

// logTail returns the last n lines of the child's log.
func (c *child) logTail(n int) string {
	data, err := os.ReadFile(c.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logLines returns the lines of the child's log.
func (c *child) logLines() []string {
	f, err := os.Open(c.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// goTool returns the go command: the one in PATH, else the one of
// $GOROOT.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("the go command is not in PATH")
}

// buildTools builds the named commands of the module into dir and returns
// their paths by name.
func buildTools(ctx context.Context, dir string, names ...string) (map[string]string, error) {
	gobin, err := goTool()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		bin := filepath.Join(dir, n)
		cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "./cmd/"+n)
		cmd.Dir = ".." // the module root; go test runs in the package directory
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/%s: %w\n%s", n, err, b)
		}
		out[n] = bin
	}
	return out, nil
}

// freeAddr returns a loopback address with a port that was free a moment
// ago (for HAProxy, which must be told its ports).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// dialable reports whether addr accepts a TCP connection now.
func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
