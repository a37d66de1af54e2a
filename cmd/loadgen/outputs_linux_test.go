package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOutToAPipe: --out naming a pipe (as /dev/stdout or a FIFO is) gets
// the report written into it, and the pipe is still a pipe afterwards: the
// report's write-and-rename would have put a regular file in its place (as
// it did to /dev/null, run as root).
func TestOutToAPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "report.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// The test holds the pipe open for reading and writing (Linux allows
	// it and it does not wait), so the reader below opens at once and reads
	// to the end only once this and the run's writer have closed: the test
	// ends, whatever the run did to the pipe.
	keep, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(fifo)
	if err != nil {
		keep.Close()
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		defer r.Close()
		b, _ := io.ReadAll(r)
		got <- b
	}()
	code, stdout, stderr := runCLI(t, "--clients", "5", "--duration", "1s", "--ramp-up", "200ms", "--progress", "off", "--out", fifo)
	keep.Close()
	b := <-got
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	st, err := os.Lstat(fifo)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("%s is no longer a pipe: %v", fifo, st.Mode())
	}
	var rep struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Version == 0 {
		t.Errorf("the pipe carried %d bytes, not a JSON report (%v): %.200q", len(b), err, b)
	}
}

// TestCheckWritableDevice: a device is checked by opening it for writing,
// not by creating a file beside it (a user who may write /dev/null may not
// write in /dev).
func TestCheckWritableDevice(t *testing.T) {
	if _, err := os.Stat(os.DevNull); err != nil {
		t.Skip(err)
	}
	if err := checkWritable(os.DevNull); err != nil {
		t.Errorf("checkWritable(%s): %v", os.DevNull, err)
	}
}
