package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/offline"
)

// The test binary doubles as the child process of the multi-process tests:
// TestMain runs runChild instead of the tests when childEnv is set.
const (
	childEnv       = "REGFLEET_OFFLINE_CHILD" // the child's mode
	childPathEnv   = "REGFLEET_OFFLINE_PATH"
	childURLEnv    = "REGFLEET_OFFLINE_URL"
	childSessEnv   = "REGFLEET_OFFLINE_SESSION"
	childStartEnv  = "REGFLEET_OFFLINE_START"
	childEndEnv    = "REGFLEET_OFFLINE_END"
	childRecipient = "user1"
)

// runChild runs one child mode and returns the exit code. Every mode exits
// when its stdin closes, so a child never outlives the test that started
// it.
func runChild(mode string) int {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	var err error
	switch mode {
	case "lockhold":
		err = childLockHold()
	case "crash":
		err = childCrash()
	case "writer":
		err = childWriter()
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// childLockHold takes the sender lock of the outbox and says "locked", then
// holds it until stdin closes.
func childLockHold() error {
	ob, err := Open(os.Getenv(childPathEnv), Options{})
	if err != nil {
		return err
	}
	if _, err := ob.Drain(context.Background(), func(context.Context, offline.Item) error { return nil }); err != nil {
		return err
	}
	fmt.Println("locked")
	select {} // until killed or stdin closes
}

// childOpen reads the child's range of items START..END-1, opens the
// outbox at PATH and says "ready".
func childOpen() (ob *Outbox, start, end int, err error) {
	start, err1 := strconv.Atoi(os.Getenv(childStartEnv))
	end, err2 := strconv.Atoi(os.Getenv(childEndEnv))
	if err := errors.Join(err1, err2); err != nil {
		return nil, 0, 0, err
	}
	ob, err = Open(os.Getenv(childPathEnv), Options{})
	if err != nil {
		return nil, 0, 0, err
	}
	fmt.Println("ready")
	return ob, start, end, nil
}

// childWriter enqueues items START..END-1 as fast as it can, draining
// (with a send that does nothing) after every 50, saying "ready" once the
// outbox is open and "done" after the last one, then waits for stdin to
// close.
func childWriter() error {
	ob, start, end, err := childOpen()
	if err != nil {
		return err
	}
	ctx := context.Background()
	for i := start; i < end; i++ {
		if err := ob.Enqueue(ctx, crashItem(i)); err != nil {
			return fmt.Errorf("enqueue %d: %w", i, err)
		}
		if i%50 == 49 { // keep the file small, so that Opens stay fast
			if _, err := ob.Drain(ctx, func(context.Context, offline.Item) error { return nil }); err != nil {
				return fmt.Errorf("drain: %w", err)
			}
		}
	}
	fmt.Println("done")
	select {} // until killed or stdin closes
}

// crashItem is item i of the crash test.
func crashItem(i int) offline.Item {
	return offline.Item{
		ID:      fmt.Sprintf("crash-%04d", i),
		Kind:    wire.CmdSendInvitation,
		Key:     fmt.Sprintf("space%d", i%4),
		Payload: []byte(strconv.Itoa(i)),
	}
}

// childCrash enqueues items START..END-1 and drains the outbox against the
// server at the same time, printing "E <i>" once Enqueue of item i
// returned, until it is killed.
func childCrash() error {
	ob, start, end, err := childOpen()
	if err != nil {
		return err
	}
	send := httpSender(&http.Client{Timeout: 10 * time.Second}, os.Getenv(childURLEnv), os.Getenv(childSessEnv))
	ctx := context.Background()
	wake := make(chan struct{}, 1)
	go func() {
		for i := start; i < end; i++ {
			err := ob.Enqueue(ctx, crashItem(i))
			if err != nil && !errors.Is(err, offline.ErrDuplicate) {
				fmt.Fprintln(os.Stderr, "child: enqueue:", err)
				os.Exit(1)
			}
			fmt.Printf("E %d\n", i)
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	for {
		res, err := ob.Drain(ctx, send)
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		if res.Sent == 0 && res.Dead == 0 {
			<-wake // idle until more is enqueued (or killed)
		}
	}
}

// httpSender returns a SendFunc that sends items of the crash test as
// sendinvitation through a plain net/http client, classifying failures as
// PROTOCOL.md says.
func httpSender(hc *http.Client, base, session string) offline.SendFunc {
	return func(ctx context.Context, it offline.Item) error {
		body, err := wire.EncodeRequest(&wire.Request{
			Command:     it.Kind,
			RequestTime: time.Now().Unix(),
			RequestID:   it.ID,
			Session:     session,
			Fields: []wire.Field{
				{Name: "spaceid", Value: it.Key},
				{Name: "recipient", Value: childRecipient},
				{Name: "payload", Value: base64.StdEncoding.EncodeToString(it.Payload)},
			},
		})
		if err != nil {
			return offline.Permanent(err)
		}
		reply, err := post(ctx, hc, base, body)
		if err != nil {
			return err
		}
		if e := reply.Exception; e != nil {
			switch {
			case e.PrimaryCode == wire.CodeDatabase || e.PrimaryCode == wire.CodeSessionExpired:
				return e
			default:
				return offline.Permanent(e)
			}
		}
		return nil
	}
}

// post sends one API request and decodes the reply.
func post(ctx context.Context, hc *http.Client, base string, body []byte) (*wire.Reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+wire.APIPath, bytes.NewReader(body))
	if err != nil {
		return nil, offline.Permanent(err)
	}
	req.Header.Set("Content-Type", wire.ContentType)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxBodySize+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("HTTP %d", resp.StatusCode)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429 {
			return nil, offline.Permanent(err)
		}
		return nil, err
	}
	return wire.DecodeReply(data)
}

// child is a running child process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // complete stdout lines; closed at EOF
}

// startChild starts the test binary in mode with env added.
func startChild(mode string, env ...string) (*child, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + mode}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 1024)}
	go func() {
		defer close(c.lines)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a line cut by the kill is not a line
			}
			c.lines <- strings.TrimSuffix(line, "\n")
		}
	}()
	return c, nil
}

// wait waits for a line equal to want; false if the child ended first.
func (c *child) waitFor(want string) bool {
	for line := range c.lines {
		if line == want {
			return true
		}
	}
	return false
}

// stop closes stdin, kills the child if kill is set, and reaps it. It
// returns the remaining stdout lines.
func (c *child) stop(kill bool) ([]string, error) {
	if kill {
		_ = c.cmd.Process.Kill() // SIGKILL
	}
	_ = c.stdin.Close()
	var rest []string
	for line := range c.lines {
		rest = append(rest, line)
	}
	return rest, c.cmd.Wait()
}
