// Command statuslight embeds the regfleet client against a list of
// Registration Server URLs and shows, one line per event, the status light
// changing between green and red, invitations queueing while the server is
// unreachable, and the outbox flushing when it is back.
//
//	statuslight --url http://127.0.0.1:18080 --url http://127.0.0.1:18081 \
//	    --user user0 --password regfleet --invite user1 --every 5s
//
// Start a simulated cluster with cmd/regsim and break instances through its
// control endpoint to watch the light.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "statuslight:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("statuslight", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		urls     = fs.StringArray("url", nil, "Registration Server base URL (repeat for each published URL)")
		backups  = fs.StringArray("backup-url", nil, "backup-tier URL (repeatable)")
		user     = fs.String("user", "", "username")
		password = fs.String("password", os.Getenv("REGFLEET_PASSWORD"), "password (default $REGFLEET_PASSWORD)")
		box      = fs.String("outbox", "", "path of the durable outbox file (default: in memory)")
		invite   = fs.String("invite", "", "send an invitation to this user every --every")
		every    = fs.Duration("every", 10*time.Second, "interval between invitations")
		poll     = fs.Duration("poll", client.DefaultPollInterval, "poll interval")
		spread   = fs.Duration("recovery-spread", client.DefaultRecoverySpread, "window of the random delay before the outbox drains after a recovery")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(*urls) == 0 {
		return errors.New("at least one --url is required")
	}
	if *every <= 0 {
		return errors.New("--every must be positive")
	}

	var outbox offline.Outbox
	if *box != "" {
		ob, err := sqlite.Open(*box, sqlite.Options{})
		if err != nil {
			return err
		}
		outbox = ob
		fmt.Fprintf(stdout, "outbox: %s\n", ob.Path())
	} else {
		outbox = offline.NewMemory(offline.MemoryOptions{})
		fmt.Fprintln(stdout, "outbox: in memory (pending invitations are lost on exit; use --outbox FILE to keep them)")
	}
	defer outbox.Close()

	c, err := client.New(client.Config{
		URLs:           *urls,
		BackupURLs:     *backups,
		Username:       *user,
		Password:       *password,
		Outbox:         outbox,
		PollInterval:   *poll,
		RecoverySpread: *spread,
	})
	if err != nil {
		return err
	}
	defer c.Close()

	events := make(chan string, 64)
	unsubscribe := c.Subscribe(func(s client.StateInfo) {
		line := fmt.Sprintf("light %-7s tier %-7s %d/%d endpoints healthy", s.Level, s.Tier, s.Healthy, s.Total)
		if s.Level == client.Red && s.LastErr != nil {
			line += " — " + s.LastErr.Error()
		}
		select {
		case events <- line:
		default: // the printer is behind; the next line shows the state anyway
		}
	})
	defer unsubscribe()

	tick := time.NewTicker(*every)
	defer tick.Stop()
	watch := time.NewTicker(time.Second)
	defer watch.Stop()
	polling := false
	lastLen := -1
	n := 0
	for {
		if !polling && c.DeviceID() == "" && c.State().Level != client.Red {
			if id, err := c.RegisterDevice(ctx, "statuslight", "demo-key"); err == nil {
				fmt.Fprintf(stdout, "%s device %s registered\n", stamp(), id)
			}
		}
		if !polling && c.DeviceID() != "" {
			err := c.StartPolling(ctx, func(_ context.Context, m client.Message) {
				fmt.Fprintf(stdout, "%s message %s: %s from %s (space %s)\n", stamp(), m.ID, m.Type, m.From, m.SpaceID)
			})
			if err == nil {
				polling = true
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "bye")
			return nil
		case line := <-events:
			fmt.Fprintf(stdout, "%s %s\n", stamp(), line)
		case <-tick.C:
			if *invite == "" {
				continue
			}
			n++
			r, err := c.SendInvitation(ctx, client.Invitation{SpaceID: "statuslight", Recipient: *invite, Payload: fmt.Appendf(nil, "invitation %d", n)})
			switch {
			case err != nil:
				fmt.Fprintf(stdout, "%s invitation %d failed: %v\n", stamp(), n, err)
			case r.Queued:
				fmt.Fprintf(stdout, "%s invitation %d queued\n", stamp(), n)
			default:
				fmt.Fprintf(stdout, "%s invitation %d sent (id %s)\n", stamp(), n, r.Result)
			}
		case <-watch.C:
			if l, err := outbox.Len(ctx); err == nil && l != lastLen {
				if lastLen > 0 && l == 0 {
					fmt.Fprintf(stdout, "%s outbox flushed\n", stamp())
				} else if l > 0 {
					fmt.Fprintf(stdout, "%s outbox: %d waiting\n", stamp(), l)
				}
				lastLen = l
			}
		}
	}
}

func stamp() string { return time.Now().Format("15:04:05") }
