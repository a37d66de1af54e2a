package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/regfleet/regfleet/loadgen"
	"github.com/spf13/pflag"
)

// outputs are the report files and thresholds of a run, a merge and a
// report.
type outputs struct {
	out, hgrm, html string
	cpuProfile      string // run only: --cpuprofile
	thresholds      []string
	checks          []loadgen.Threshold
}

// flags adds the outputs' flags to fs; --out only when withOut.
func (o *outputs) flags(fs *pflag.FlagSet, withOut bool) {
	if withOut {
		fs.StringVar(&o.out, "out", "", "write the JSON report (with encoded histograms, for merge, report and compare) to this file")
	}
	fs.StringVar(&o.hgrm, "hgrm", "", "write the HdrHistogram percentile distribution (ms) of all commands to this file")
	fs.StringVar(&o.html, "html", "", "write the self-contained HTML report to this file")
	fs.StringArrayVar(&o.thresholds, "threshold", nil, "fail (exit 1) when crossed, e.g. 'p99<500ms' or 'errors<1%' (repeatable)\n"+
		loadgen.ThresholdHelp()+"  {cmd} names: "+strings.Join(loadgen.KnownNames(), ", "))
}

// parse reads the thresholds, checks that each {cmd} is one of names (or
// of loadgen.KnownNames when names is nil), and that each output file can
// be written: all before any work is done.
func (o *outputs) parse(names []string) error {
	o.checks = o.checks[:0]
	for _, s := range o.thresholds {
		t, err := loadgen.ParseThreshold(s)
		if err != nil {
			return usageError{fmt.Errorf("--threshold: %w", err)}
		}
		o.checks = append(o.checks, t)
	}
	if names == nil {
		names = loadgen.KnownNames()
	}
	if err := loadgen.CheckNames(names, o.checks...); err != nil {
		return usageError{fmt.Errorf("--threshold: %w", err)}
	}
	return checkOutputs(append(o.files(nil), outputFile{flag: "cpuprofile", path: o.cpuProfile}))
}

// checkOutputs checks, before anything runs, that each output file named
// can be written and that no two name the same file.
func checkOutputs(files []outputFile) error {
	seen := map[string]string{}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		t := resolveOut(f.path) // through symbolic links: a link and its target are one file
		abs, err := filepath.Abs(t.path)
		if err != nil {
			return usageError{fmt.Errorf("--%s %s: %w", f.flag, f.path, err)}
		}
		if other, ok := seen[abs]; ok && !t.inPlace { // /dev/null twice is fine
			return usageError{fmt.Errorf("--%s and --%s name the same file %s", other, f.flag, f.path)}
		}
		seen[abs] = f.flag
		if err := checkWritable(f.path); err != nil {
			return usageError{fmt.Errorf("--%s %s: %w", f.flag, f.path, err)}
		}
	}
	return nil
}

// outputFile is one report file to write.
type outputFile struct {
	flag, path string
	rep        loadgen.Reporter
}

// files returns the output files, with the reporters of r (nil reporters
// when r is nil).
func (o *outputs) files(r *loadgen.Report) []outputFile {
	files := []outputFile{{flag: "out", path: o.out}, {flag: "hgrm", path: o.hgrm}, {flag: "html", path: o.html}}
	if r != nil {
		files[0].rep = loadgen.JSONReporter(r)
		files[1].rep = loadgen.HgrmReporter(r, "")
		files[2].rep = loadgen.HTMLReporter(r)
	}
	return files
}

// write prints the summary, writes the files, and lists every threshold
// held (✓) or not (✗) at the end; errThresholds when one was not held.
func (o *outputs) write(r *loadgen.Report, stdout io.Writer) error {
	if err := loadgen.TextReporter(r)(stdout); err != nil {
		return err
	}
	for _, f := range o.files(r) {
		if f.path == "" {
			continue
		}
		if err := writeFile(f.path, f.rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", f.path)
	}
	return printThresholds(stdout, loadgen.Evaluate(r, o.checks...))
}

// printThresholds lists the results, one a line, under a line that counts
// the thresholds not held; errThresholds when there is one.
func printThresholds(w io.Writer, results []loadgen.Result) error {
	if len(results) == 0 {
		return nil
	}
	failed := 0
	for _, res := range results {
		if !res.Held {
			failed++
		}
	}
	if failed == 0 {
		fmt.Fprintf(w, "Thresholds: all %d held\n", len(results))
	} else {
		fmt.Fprintf(w, "Thresholds: %d of %d crossed or not measured\n", failed, len(results))
	}
	for _, res := range results {
		fmt.Fprintf(w, "  %s\n", res)
	}
	if failed > 0 {
		return errThresholds
	}
	return nil
}

// checkWritable reports why a file cannot be written at path: it is a
// directory, or its directory is missing or not writable (tried by
// creating and removing a temporary file there); a device, a pipe or a
// descriptor (see resolveOut) must be writable itself.
func checkWritable(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return errors.New("is a directory")
	}
	t := resolveOut(path)
	if t.inPlace {
		if err := canWriteInPlace(t.path); err != nil {
			return fmt.Errorf("cannot write it: %w", withoutPath(err))
		}
		return nil
	}
	dir := filepath.Dir(t.path)
	f, err := os.CreateTemp(dir, ".loadgen-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, withoutPath(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// writeFile writes rep to path whole or not at all: to a temporary file in
// the same directory as the file path names (through its symbolic links),
// renamed to it once complete. A device, a pipe or a descriptor
// (/dev/null, /dev/stdout, a FIFO) is written in place: a rename would put
// a regular file where it was.
func writeFile(path string, rep loadgen.Reporter) (err error) {
	t := resolveOut(path)
	if t.inPlace {
		return writeInPlace(path, t, rep)
	}
	f, err := os.CreateTemp(filepath.Dir(t.path), "."+filepath.Base(t.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := rep(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	for _, step := range []func() error{bw.Flush, func() error { return f.Chmod(0o644) }, f.Close} {
		if err := step(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp, t.path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeInPlace writes rep to t, a device, a pipe or a descriptor, named
// path on the command line.
func writeInPlace(path string, t outTarget, rep loadgen.Reporter) error {
	w, closeIt, err := openInPlace(t)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, withoutPath(err))
	}
	bw := bufio.NewWriter(w)
	err = rep(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := closeIt(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// withoutPath is err without the *os.PathError around it, for a message
// that names the path already.
func withoutPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// reportNames returns the names a threshold may name for reports rs: the
// known ones and those of the reports, sorted.
func reportNames(rs ...*loadgen.Report) []string {
	names := loadgen.KnownNames()
	for _, r := range rs {
		names = append(names, r.CommandNames()...)
		names = append(names, r.OperationNames()...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// readReport reads the saved report at path; a file that cannot be read is
// a usageError.
func readReport(path string) (*loadgen.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{err}
	}
	defer f.Close()
	r, err := loadgen.ReadReport(f)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	r.Source = path
	return r, nil
}
