package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/pflag"
	"go.uber.org/goleak"

	"github.com/regfleet/regfleet/internal/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--instances", "zero"},
		{"--instances", "0"},
		{"--users", "-1"},
		{"--poll-interval", "0s"},
		{"--storage-period", "-1h"},
		{"--session-ttl", "0"},
		{"--password", ""},
		{"extra"},
		{"--addr", "0.0.0.0:0", "--control-addr", "127.0.0.1:0"},
		{"--addr", "127.0.0.1:0", "--control-addr", "192.0.2.7:0"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, &stdout, &stderr)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: err %v, want a usage error", args, err)
			continue
		}
		if code := exitCode(err, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: printed %q", args, stdout.String())
		}
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--help"}, &stdout, &stderr)
	if !errors.Is(err, pflag.ErrHelp) || exitCode(err, &stderr) != 0 {
		t.Fatalf("--help: %v", err)
	}
	for _, flag := range []string{"--addr", "--instances", "--control-addr", "--users", "--salt", "--poll-interval", "--storage-period", "--session-ttl", "--allow-remote"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("usage does not mention %s", flag)
		}
	}
	for _, e := range []string{"GET  /counters", "POST /fault?", "mode=dbdown", "POST /store", "POST /pollinterval", "GET  /"} {
		if !strings.Contains(stderr.String(), e) {
			t.Errorf("usage does not list the control endpoint %q", e)
		}
	}
}

// lineWriter sends each complete line written to it on lines.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.lines <- strings.TrimSuffix(line, "\n")
	}
}

func TestRunServesUntilCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lineWriter{lines: make(chan string, 64)}
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--control-addr", "127.0.0.1:0", "--instances", "3", "--users", "5", "--poll-interval", "45s"}, out, &stderr)
	}()
	var apiURLs []string
	var controlURL string
	for controlURL == "" || len(apiURLs) < 3 {
		var line string
		select {
		case line = <-out.lines:
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, stderr.String())
		}
		fields := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "instance "):
			apiURLs = append(apiURLs, fields[2])
		case strings.HasPrefix(line, "control:"):
			controlURL = fields[1]
		}
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	// A hand-written request of PROTOCOL.md gets the documented reply.
	body := "<?xml version='1.0' encoding='UTF-8' ?>\n<teamdrive><command>loginuser</command><requesttime>1763800000</requesttime>" +
		"<username>user4</username><password>regfleet</password></teamdrive>"
	resp, err := hc.Post(apiURLs[2]+wire.APIPath, wire.ContentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	reply, err := wire.DecodeReply(b)
	if err != nil || reply.Exception != nil {
		t.Fatalf("login: %v %v\n%s", err, reply, b)
	}
	if id, _ := reply.Get("userid"); id != "5" {
		t.Fatalf("userid %q", id)
	}
	resp, err = hc.Get(controlURL + "/faults")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"poll_interval_seconds": 45`) {
		t.Fatalf("faults: %s", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	// Everything after the URLs is the stop notice.
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "regfleet") {
			t.Fatalf("password logged: %s", sc.Text())
		}
	}
}
