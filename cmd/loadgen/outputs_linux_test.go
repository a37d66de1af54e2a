package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// buildLoadgen builds the program into dir and returns its path.
func buildLoadgen(t *testing.T, dir string) string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	bin := filepath.Join(dir, "loadgen")
	if out, err := exec.Command(gocmd, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestOutToStandardOutput: --out /dev/fd/1 with standard output sent to a
// file puts the JSON report in that file after the text report, and the
// "wrote" line after it: the report goes through the process's own
// standard output (a file created beside /dev/fd/1 and renamed over it
// cannot be, and reopening the file would write over the text).
func TestOutToStandardOutput(t *testing.T) {
	dir := t.TempDir()
	bin := buildLoadgen(t, dir)
	outFile := filepath.Join(dir, "stdout.txt")
	f, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--clients", "5", "--duration", "1s", "--ramp-up", "200ms", "--progress", "off", "--out", "/dev/fd/1")
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	f.Close()
	if err != nil {
		t.Fatalf("loadgen: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	text, js, wrote := strings.Index(s, "Run "), strings.Index(s, "\n{"), strings.Index(s, "wrote /dev/fd/1")
	if text < 0 || js < 0 || wrote < 0 || !(text < js && js < wrote) {
		t.Fatalf("standard output has the text report at %d, the JSON at %d, the wrote line at %d, want them in that order:\n%.2000s", text, js, wrote, s)
	}
	var rep struct {
		Version int `json:"version"`
	}
	if err := json.NewDecoder(strings.NewReader(s[js+1 : wrote])).Decode(&rep); err != nil || rep.Version == 0 {
		t.Errorf("no JSON report between the text and the wrote line (%v)", err)
	}
}

// TestOutThroughASymlink: --out naming a symbolic link replaces the file it
// points to and leaves the link in place.
func TestOutThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "reports", "run.json")
	if err := os.Mkdir(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "latest.json")
	if err := os.Symlink("reports/run.json", link); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "--clients", "5", "--duration", "1s", "--ramp-up", "200ms", "--progress", "off", "--out", link)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer a symbolic link (%v)", link, err)
	}
	b, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Version == 0 {
		t.Errorf("the link's target holds %.100q, not the report (%v)", b, err)
	}
}

// TestResolveOut: where a report named by each kind of path goes.
func TestResolveOut(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "r.json")
	if err := os.WriteFile(reg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "l.json")
	if err := os.Symlink(reg, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "d.json")
	if err := os.Symlink("new.json", dangling); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want outTarget
	}{
		{reg, outTarget{path: reg, fd: -1}},
		{filepath.Join(dir, "absent.json"), outTarget{path: filepath.Join(dir, "absent.json"), fd: -1}},
		{link, outTarget{path: reg, fd: -1}},
		{dangling, outTarget{path: filepath.Join(dir, "new.json"), fd: -1}},
		{os.DevNull, outTarget{path: os.DevNull, inPlace: true, fd: -1}},
		{"/dev/stdout", outTarget{path: "/dev/stdout", inPlace: true, fd: 1}},
		{"/dev/fd/2", outTarget{path: "/dev/fd/2", inPlace: true, fd: 2}},
	} {
		if got := resolveOut(tc.path); got != tc.want {
			t.Errorf("resolveOut(%s) = %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

// TestOutputsThroughALinkAreOneFile: two flags naming one file, once
// through a symbolic link, are refused before the run; one device twice is
// not.
func TestOutputsThroughALinkAreOneFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "run.json")
	link := filepath.Join(dir, "latest.json")
	if err := os.Symlink("run.json", link); err != nil {
		t.Fatal(err)
	}
	err := checkOutputs([]outputFile{{flag: "out", path: link}, {flag: "html", path: target}})
	if err == nil || !strings.Contains(err.Error(), "--out and --html name the same file") {
		t.Errorf("a link and its target: %v, want them named the same file", err)
	}
	if err := checkOutputs([]outputFile{{flag: "out", path: os.DevNull}, {flag: "html", path: os.DevNull}}); err != nil {
		t.Errorf("%s twice: %v", os.DevNull, err)
	}
}
