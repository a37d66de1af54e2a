package main

import (
	"bufio"
	"context"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/regfleet/regfleet/loadgen"
)

// jobManifest is what TestKubernetesJob reads from
// examples/kubernetes/job.yaml: a few scalar fields, the container's args
// and the volume mount paths. It is a line reader for that one file (block
// style, one key per line, list items "- value"), not a YAML parser.
type jobManifest struct {
	fields map[string]string // "completionMode", "completions", "parallelism"
	args   []string
	mounts []string
}

func readJobManifest(t *testing.T, file string) jobManifest {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := jobManifest{fields: map[string]string{}}
	argsIndent := -1 // indentation of "args:" while reading its items
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(stripComment(raw))
		if line == "" {
			continue
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " "))
		if argsIndent >= 0 {
			if item, ok := strings.CutPrefix(line, "- "); ok && indent >= argsIndent {
				m.args = append(m.args, unquote(t, item))
				continue
			}
			argsIndent = -1
		}
		key, val, _ := strings.Cut(strings.TrimPrefix(line, "- "), ":")
		val = strings.TrimSpace(val)
		switch key {
		case "args":
			if val != "" {
				t.Fatalf("args must be a block list, one item a line: %q", raw)
			}
			argsIndent = indent
		case "completionMode", "completions", "parallelism":
			m.fields[key] = val
		case "mountPath":
			m.mounts = append(m.mounts, val)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// stripComment removes a trailing " # comment" outside double quotes.
func stripComment(s string) string {
	quoted := false
	for i, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == '#' && !quoted && (i == 0 || s[i-1] == ' '):
			return s[:i]
		}
	}
	return s
}

func unquote(t *testing.T, s string) string {
	t.Helper()
	if !strings.HasPrefix(s, `"`) {
		return s
	}
	u, err := strconv.Unquote(s)
	if err != nil {
		t.Fatalf("list item %s: %v", s, err)
	}
	return u
}

// flagValue returns the value of --name in args ("" when absent).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// TestKubernetesJob checks examples/kubernetes/job.yaml against this
// command: an Indexed Job whose completions, parallelism and --shard count
// agree, whose every pod's arguments (the completion index substituted as
// Kubernetes does) pass loadgen's flag parsing and config checks and write
// a report of their own shard into the mounted shared volume. Each pod's
// arguments go through run() with a canceled context, so no client starts
// and nothing is dialed; only --out is moved into a temporary directory.
func TestKubernetesJob(t *testing.T) {
	m := readJobManifest(t, filepath.Join("..", "..", "examples", "kubernetes", "job.yaml"))
	if m.fields["completionMode"] != "Indexed" {
		t.Errorf("completionMode %q, want Indexed", m.fields["completionMode"])
	}
	n, err := strconv.Atoi(m.fields["completions"])
	if err != nil || n < 1 {
		t.Fatalf("completions %q: want a positive count", m.fields["completions"])
	}
	if m.fields["parallelism"] != m.fields["completions"] {
		t.Errorf("parallelism %q ≠ completions %d: the shards of one run must run together", m.fields["parallelism"], n)
	}
	if len(m.args) == 0 {
		t.Fatal("no args list found")
	}
	const index = "$(JOB_COMPLETION_INDEX)"
	if want := index + "/" + strconv.Itoa(n); flagValue(m.args, "shard") != want {
		t.Errorf("--shard %q, want %q", flagValue(m.args, "shard"), want)
	}
	out := flagValue(m.args, "out")
	if !strings.Contains(out, index) {
		t.Errorf("--out %q does not name the shard: the pods would overwrite each other's reports", out)
	}
	if dir := path.Dir(out); !contains(m.mounts, dir) {
		t.Errorf("--out %q is not in a mounted volume (mounts %v)", out, m.mounts)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tmp := t.TempDir()
	for i := range n {
		shard := strconv.Itoa(i)
		args := make([]string, len(m.args))
		for k, a := range m.args {
			args[k] = strings.ReplaceAll(a, index, shard)
		}
		local := filepath.Join(tmp, path.Base(strings.ReplaceAll(out, index, shard)))
		for k := range args {
			if args[k] == "--out" {
				args[k+1] = local
			}
		}
		var stdout, stderr strings.Builder
		if err := run(ctx, args, &stdout, &stderr); err != nil {
			t.Fatalf("pod %d: loadgen %s: %v\n%s", i, strings.Join(args, " "), err, stderr.String())
		}
		f, err := os.Open(local)
		if err != nil {
			t.Fatalf("pod %d wrote no report: %v", i, err)
		}
		r, err := loadgen.ReadReport(f)
		f.Close()
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		if want := shard + "/" + strconv.Itoa(n); r.Config.Shard != want {
			t.Errorf("pod %d's report is of shard %q, want %q", i, r.Config.Shard, want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
