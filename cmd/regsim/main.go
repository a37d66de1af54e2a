// Command regsim serves a simulated Registration Server cluster (package
// regsim) on loopback ports until interrupted:
//
//	regsim --instances 3 --users 1000
//
// prints each instance's base URL and the control endpoint's URL. The API of
// an instance is POST {url}/pbas/td2as/api/api.htm (shared/PROTOCOL.md);
// faults are switched through the control endpoint, e.g.
//
//	curl -X POST 'http://127.0.0.1:18079/fault?instance=1&mode=down'
//	curl -X POST 'http://127.0.0.1:18079/fault?mode=dbdown'
//	curl 'http://127.0.0.1:18079/counters'
//	curl 'http://127.0.0.1:18079/'          # lists the control endpoints
//
// --help lists the control endpoints as well.
//
// Exit status: 0 after Ctrl-C, 2 on bad flags, 1 on any other error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/regsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on stderr and maps it to the exit status.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "regsim:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "regsim:", err)
		return 1
	}
}

// errUsage marks errors in the command line (exit status 2).
var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// Flag defaults.
const (
	defaultAddr        = "127.0.0.1:18080"
	defaultControlAddr = "127.0.0.1:18079"
)

// run parses args, serves the cluster until ctx ends, then stops it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("regsim", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: regsim [flags]\n\nServes a simulated Registration Server cluster on loopback ports until interrupted.\n\nFlags:\n%s", fs.FlagUsages())
		fmt.Fprintf(stderr, "\nControl endpoint (--control-addr; GET / lists it too), e.g. curl -X POST 'http://%s/fault?instance=1&mode=down':\n", defaultControlAddr)
		for _, e := range regsim.ControlEndpoints() {
			fmt.Fprintf(stderr, "  %s\n", e)
		}
	}
	addr := fs.String("addr", defaultAddr, "address of the first instance; further instances listen on the following ports")
	instances := fs.Int("instances", 1, "number of instances")
	controlAddr := fs.String("control-addr", defaultControlAddr, `address of the control endpoint ("-": none)`)
	users := fs.Int("users", 0, "seed user0 … user(N-1), each with --password")
	password := fs.String("password", regsim.DefaultPassword, "password of the seeded users")
	salt := fs.String("salt", "", "checksum salt; when set, requests must carry ?checksum=")
	poll := fs.Duration("poll-interval", regsim.DefaultPollInterval, "the <pollinterval> the server asks for")
	storage := fs.Duration("storage-period", regsim.DefaultStoragePeriod, "how long unacknowledged messages are kept")
	sessionTTL := fs.Duration("session-ttl", regsim.DefaultSessionTTL, "how long a session is valid")
	allowRemote := fs.Bool("allow-remote", false, "allow binding addresses other than loopback")
	verbose := fs.BoolP("verbose", "v", false, "log debug events")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *instances < 1 || *instances > regsim.MaxInstances:
		return usageErr("--instances must be in [1, %d]", regsim.MaxInstances)
	case *users < 0:
		return usageErr("--users must not be negative")
	case *password == "":
		return usageErr("--password must not be empty")
	case *poll <= 0:
		return usageErr("--poll-interval must be positive")
	case *storage <= 0:
		return usageErr("--storage-period must be positive")
	case *sessionTTL <= 0:
		return usageErr("--session-ttl must be positive")
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	c, err := regsim.Start(regsim.Config{
		Instances:     *instances,
		Users:         *users,
		Password:      *password,
		Salt:          *salt,
		PollInterval:  *poll,
		StoragePeriod: *storage,
		SessionTTL:    *sessionTTL,
		Logger:        logger,
	}, regsim.StartOptions{Addr: *addr, ControlAddr: *controlAddr, AllowRemote: *allowRemote})
	if err != nil {
		var ce *regsim.ConfigError
		if errors.As(err, &ce) {
			return usageErr("%v", err)
		}
		return err
	}
	defer c.Close()

	for i, u := range c.URLs() {
		fmt.Fprintf(stdout, "instance %d: %s (API: POST %s%s)\n", i, u, u, wire.APIPath)
	}
	if u := c.ControlURL(); u != "" {
		fmt.Fprintf(stdout, "control:    %s\n", u)
	}
	if *users > 0 {
		fmt.Fprintf(stdout, "users:      user0 … user%d (password from --password)\n", *users-1)
	}
	fmt.Fprintln(stdout, "serving until interrupted (Ctrl-C)")

	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	return c.Close()
}
