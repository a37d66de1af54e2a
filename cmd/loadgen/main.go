// Command loadgen runs thousands of real regfleet SDK clients against a
// Registration Server cluster, or against the embedded simulated cluster
// when no --url is given, and reports latency (from intended send times),
// errors, reachability, outage and herd figures and delivery accounting.
//
//	loadgen --clients 2000 --duration 90s --outage down:20s@35s --html report.html
//	loadgen --url https://reg1.staging --url https://reg2.staging --clients 500 --threshold 'p99<500ms'
//	loadgen merge shard-0.json shard-1.json --html fleet.html
//	loadgen report run.json --html run.html --threshold 'herd<1.5'
//	loadgen compare before.json after.json
//
// Exit codes: 0 success, 1 a --threshold was crossed, 2 bad flags or
// arguments, 3 the run itself failed (no client could start included).
// "loadgen help" says the rest.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
)

// Exit codes.
const (
	exitOK        = 0
	exitThreshold = 1
	exitUsage     = 2
	exitFailed    = 3
)

// usageError is a bad flag or argument.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// errDone reports that --help or --version was asked for, and printed.
var errDone = errors.New("help or version printed")

// errThresholds reports crossed thresholds (already printed).
var errThresholds = errors.New("thresholds crossed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errDone):
		return exitOK
	case errors.Is(err, errThresholds):
		return exitThreshold
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, message(err))
		return exitUsage
	default:
		fmt.Fprintln(stderr, message(err))
		return exitFailed
	}
}

// message is err as the command prints it: prefixed with "loadgen: " once,
// whether or not the package's error already is.
func message(err error) string {
	m := err.Error()
	if strings.HasPrefix(m, "loadgen: ") {
		return m
	}
	return "loadgen: " + m
}

// command is a subcommand of loadgen.
type command struct {
	name  string // as typed after loadgen
	usage string // the synopsis, after "loadgen "
	short string // one line, for the list of commands
	about string // what it does, for its help
	// run runs the command with the arguments after its name.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// flags adds the command's flags to fs, for its help (run adds them
	// itself).
	flags func(fs *pflag.FlagSet)
}

// commands lists the subcommands, run (the default) first.
func commands() []command {
	return []command{
		{
			name: "run", usage: "[run] [flags]", short: "run the load and report it (the default command)",
			about: runAbout, run: runLoad, flags: func(fs *pflag.FlagSet) { runFlags(fs) },
		},
		{
			name: "merge", usage: "merge SHARD.json… [flags]", short: "merge the reports of the shards of one run (--shard i/n --out)",
			about: mergeAbout, run: runMerge, flags: func(fs *pflag.FlagSet) { new(outputs).flags(fs, true) },
		},
		{
			name: "report", usage: "report RUN.json [flags]", short: "render a saved report as text, HTML and hgrm, and check thresholds",
			about: reportAbout, run: runReport, flags: func(fs *pflag.FlagSet) { new(outputs).flags(fs, false) },
		},
		{
			name: "compare", usage: "compare A.json B.json", short: "line two runs up figure by figure, and say how their configurations differ",
			about: compareAbout, run: runCompare, flags: func(*pflag.FlagSet) {},
		},
		{
			name: "tune", usage: "tune --poll-interval A,B --recovery-spread C,D [flags]", short: "sweep poll intervals and recovery settings against one outage scenario, and recommend",
			about: "Runs the same outage scenario for every combination of the listed settings, several times each, and\nprints the trade-off (herd ratio against time to Green) with a recommendation for the --goal.",
			run:   runTune, flags: func(*pflag.FlagSet) {},
		},
		{
			name: "help", usage: "help [COMMAND]", short: "this help, or a command's",
			run: runHelp, flags: func(*pflag.FlagSet) {},
		},
	}
}

// lookup returns the subcommand named name.
func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run is the whole program: a subcommand's name (run when none), flags
// in, report out.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if c, ok := lookup(args[0]); ok {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return runLoad(ctx, args, stdout, stderr)
}

// newFlagSet returns the flag set of command name, which prints nothing
// itself: parse prints the help, and the caller the errors.
func newFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("loadgen "+name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	return fs
}

// parse adds --help and --version to fs and parses args. After --help it
// prints command name's help to stdout, after --version the version, and
// returns errDone; a bad flag is a usageError.
func parse(fs *pflag.FlagSet, name string, args []string, stdout io.Writer) error {
	var help, version bool
	fs.BoolVarP(&help, "help", "h", false, "print this help and exit")
	fs.BoolVar(&version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Errorf("%w (loadgen %s --help lists the flags)", err, name)}
	}
	switch {
	case help:
		c, _ := lookup(name)
		printHelp(stdout, c)
		return errDone
	case version:
		fmt.Fprintln(stdout, versionLine())
		return errDone
	}
	return nil
}

// runHelp prints the help of loadgen, or of the command named.
func runHelp(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("help")
	if err := parse(fs, "help", args, stdout); err != nil {
		return err
	}
	c, _ := lookup("run")
	switch fs.NArg() {
	case 0:
	case 1:
		var ok bool
		if c, ok = lookup(fs.Arg(0)); !ok {
			return usageError{fmt.Errorf("help: no command %q (one of %s)", fs.Arg(0), commandNames())}
		}
	default:
		return usageError{errors.New("help: name one command")}
	}
	if c.name == "tune" {
		// tune prints its own help, with its flags.
		_, _ = configureTune([]string{"--help"}, stdout, io.Discard)
		return nil
	}
	printHelp(stdout, c)
	return nil
}

func commandNames() string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// printHelp writes the help of command c: what it does, for run (the
// default) the list of commands, its flags and the exit codes.
func printHelp(w io.Writer, c command) {
	if c.name == "help" {
		c, _ = lookup("run")
	}
	fmt.Fprintf(w, "%s\n\nUsage:\n", strings.TrimSpace(c.about))
	if c.name == "run" {
		for _, sub := range commands() {
			fmt.Fprintf(w, "  loadgen %-26s %s\n", sub.usage, sub.short)
		}
		fmt.Fprintf(w, "\n  loadgen COMMAND --help says more of each; every command takes --version.\n")
	} else {
		fmt.Fprintf(w, "  loadgen %s\n", c.usage)
	}
	fs := newFlagSet(c.name)
	c.flags(fs)
	fs.BoolP("help", "h", false, "print this help and exit")
	fs.Bool("version", false, "print the version and exit")
	fmt.Fprintf(w, "\nFlags of %s:\n%s", c.name, fs.FlagUsages())
	fmt.Fprint(w, exitCodesHelp)
}

const exitCodesHelp = `
Exit codes:
  0  success: the run or the command completed and every --threshold held
  1  a --threshold was crossed, or could not be measured
  2  bad flags or arguments (checked before any load starts: flags, output
     paths, threshold names)
  3  the run failed, no client could start included
`

const runAbout = `
loadgen runs thousands of real regfleet SDK clients (the client package a
desktop embeds) against a Registration Server cluster (--url), or against an
embedded simulated cluster when no --url is given, and reports what they saw:
latency measured from the intended send times, errors, reachability, each
outage's herd and recovery figures, and delivery accounting. The report is
printed as text and written as JSON (--out, for merge, report and compare),
HTML (--html) and an HdrHistogram distribution (--hgrm); --threshold turns
figures into a pass or fail for CI.

Examples:
  loadgen --clients 2000 --duration 90s --outage down:20s@35s --html report.html
  loadgen --url https://reg1.staging --clients 500 --threshold 'p99<500ms' --out run.json
  loadgen report run.json --threshold 'herd<1.5'
  loadgen compare before.json after.json
`

const mergeAbout = `
loadgen merge combines the JSON reports (--out) of the shards of one run
(--shard i/n, run at the same time on several machines or processes) into
the report of the whole fleet, exactly: histograms merge bucket by bucket and
the per-second series align on their seconds. It refuses reports that are not
of one run, naming the two and what differs; a missing shard gives a partial
report that says so.
`

const reportAbout = `
loadgen report renders a saved JSON report (written by --out or merge,
report format 2 or 3) as the text summary on stdout and, as asked, as HTML
(--html) and an HdrHistogram distribution (--hgrm), and checks --threshold
against it, as at the end of the run that wrote it.
`

const compareAbout = `
loadgen compare lines two saved runs up figure by figure: request rate,
errors, latency percentiles of all commands and of each command and user
operation, schedule lag, delivery accounting, each outage's recovery, herd
and drain (outages matched by name) and the generator's own CPU, with the
change from A to B. It says field by field how the runs' configurations
differ.
`
