package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/outboxtest"
	"github.com/regfleet/regfleet/regsim"
)

// TestSenderLockBetweenProcesses: while another process drains the file,
// Drain here fails with ErrLocked and reads still work; once it exits, the
// lock is free.
func TestSenderLockBetweenProcesses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob := openT(t, path, Options{})
	outboxtest.MustEnqueue(t, ob, outboxtest.NewItem("a", ""))
	ob.Close()

	c, err := startChild("lockhold", childPathEnv+"="+path)
	if err != nil {
		t.Fatal(err)
	}
	if !c.waitFor("locked") {
		_, err := c.stop(true)
		t.Fatalf("child ended before taking the lock: %v", err)
	}
	ob = openT(t, path, Options{})
	if _, err := ob.Drain(ctx, (&outboxtest.Recorder{}).Send); !errors.Is(err, ErrLocked) {
		t.Fatalf("Drain while another process holds the lock: %v", err)
	}
	outboxtest.WantLen(t, ob, 0) // the child's drain delivered "a"
	outboxtest.MustEnqueue(t, ob, outboxtest.NewItem("b", ""))
	outboxtest.WantIDs(t, "Pending", outboxtest.PendingIDs(t, ob), "b")

	if _, err := c.stop(true); err == nil {
		t.Fatal("killed child exited cleanly")
	}
	r := outboxtest.Recorder{}
	if res, err := ob.Drain(ctx, r.Send); err != nil || res.Sent != 1 {
		t.Fatalf("Drain after the child died = %+v, %v", res, err)
	}
}

// TestOpenBesideBusyWriter: a healthy file is never reported corrupt (nor
// does Open fail) while another process enqueues into it. Issue 10, item
// 18: the consistency check read the rows and the totals from two
// snapshots, and 298 of 300 Opens beside one busy writer failed.
func TestOpenBesideBusyWriter(t *testing.T) {
	const (
		items    = 100_000 // the writer's enqueues, at most (it is stopped sooner)
		maxOpens = 150     // this process's Opens, at most
	)
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob := openT(t, path, Options{})
	ob.Close()
	c, err := startChild("writer", childPathEnv+"="+path, childStartEnv+"=0", childEndEnv+"="+strconv.Itoa(items))
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop(true)
	if !c.waitFor("ready") {
		_, err := c.stop(true)
		t.Fatalf("writer ended before it was ready: %v", err)
	}
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		c.waitFor("done")
	}()
	opens, failed := 0, 0
	for opens < maxOpens {
		select {
		case <-writing:
		default:
			opens++
			// Every other Open may move a corrupt file aside: a false
			// report would move the live queue away.
			ob, err := Open(path, Options{MoveAsideCorrupt: opens%2 == 0})
			if err != nil {
				failed++
				if failed <= 3 {
					t.Errorf("Open %d beside the writer: %v", opens, err)
				}
				continue
			}
			if err := ob.Close(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		break
	}
	if opens < 10 {
		t.Fatalf("the writer finished after %d Opens: the test proves nothing", opens)
	}
	if failed > 0 {
		t.Fatalf("%d of %d Opens beside a busy writer failed", failed, opens)
	}
	if moved, _ := filepath.Glob(path + ".corrupt-*"); len(moved) > 0 {
		t.Fatalf("the live outbox was moved aside: %v", moved)
	}
	t.Logf("%d Opens beside the writer, none failed", opens)
}

// TestCrash SIGKILLs a child process that enqueues and drains against
// regsim at random moments, 50 times, then drains cleanly. Every item whose
// Enqueue returned must be stored on the server exactly once, in order per
// key. The kill moments are real time by nature (they race with fsyncs
// and sends); the seed makes the sequence of delays repeatable, not the
// interleaving.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	const (
		kills  = 50
		perRun = 6
		total  = 240
	)
	// After the child says "ready" (Open done), it is killed within
	// maxWait: long enough for a few enqueues and sends, short enough that
	// most kills land in the middle of them.
	maxWait := 25 * time.Millisecond
	if raceEnabled {
		maxWait = 100 * time.Millisecond
	}
	seed := uint64(time.Now().UnixNano())
	if s := strings.TrimSpace(getenv("REGFLEET_CRASH_SEED")); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set REGFLEET_CRASH_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	cluster, err := regsim.Start(regsim.Config{Users: 2}, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	base := cluster.URLs()[0]
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	session := login(t, hc, base)

	path := filepath.Join(t.TempDir(), "outbox.db")
	began := time.Now()
	acked := -1 // highest i whose Enqueue returned in a child
	killedBeforeReady := 0
	for run := range kills {
		start := acked + 1 // acked+1 may be stored already: Enqueue says ErrDuplicate, or it was sent: the server recognises its requestid
		c, err := startChild("crash",
			childPathEnv+"="+path, childURLEnv+"="+base, childSessEnv+"="+session,
			childStartEnv+"="+strconv.Itoa(start), childEndEnv+"="+strconv.Itoa(min(start+perRun, total)))
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		if rng.IntN(10) == 0 {
			killedBeforeReady++ // kill it during Open
		} else {
			for line := range c.lines {
				seen = append(seen, line)
				if line == "ready" {
					break
				}
			}
		}
		<-time.After(time.Duration(rng.Int64N(int64(maxWait))))
		rest, err := c.stop(true)
		if err == nil {
			t.Fatalf("run %d: child exited cleanly", run)
		}
		for _, line := range append(seen, rest...) {
			if i, ok := strings.CutPrefix(line, "E "); ok {
				n, err := strconv.Atoi(i)
				if err != nil || n != acked+1 {
					t.Fatalf("run %d: child said %q after %d", run, line, acked)
				}
				acked = n
			}
		}
	}
	t.Logf("%d kills (%d during Open); %d items acknowledged by children (%v)", kills, killedBeforeReady, acked+1, time.Since(began))

	// The clean run: enqueue the rest and drain until empty.
	ctx := context.Background()
	ob := openT(t, path, Options{})
	for i := acked + 1; i < total; i++ {
		if err := ob.Enqueue(ctx, crashItem(i)); err != nil && !errors.Is(err, offline.ErrDuplicate) {
			t.Fatal(err)
		}
	}
	send := httpSender(hc, base, session)
	// Kills that keep landing while the same item is in flight make it a
	// dead letter after MaxClaims of them (the rule that protects against
	// an item that crashes the sender); it is set aside, not lost. The
	// application's answer is Retry, which the clean run gives it. A dead
	// letter does not hold back its key, so such an item reaches the server
	// after the later items of its key: it is left out of the order check.
	abandoned := map[string]bool{}
	for range 10 {
		if _, err := ob.Drain(ctx, send); err != nil {
			t.Fatalf("clean drain: %v", err)
		}
		dead, err := ob.Dead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dead {
			if !strings.HasPrefix(d.Reason, "abandoned") || d.Attempts < offline.MaxClaims {
				t.Fatalf("unexpected dead letter %s (%d attempts): %s", d.ID, d.Attempts, d.Reason)
			}
			abandoned[d.ID] = true
			if err := ob.Retry(ctx, d.ID); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := ob.Len(ctx); n == 0 && len(dead) == 0 {
			break
		}
	}
	outboxtest.WantLen(t, ob, 0)
	outboxtest.WantIDs(t, "Dead", outboxtest.DeadIDs(t, ob))
	t.Logf("%d items set aside after %d claims without outcome, then retried", len(abandoned), offline.MaxClaims)

	// Every item stored exactly once ...
	for i := range total {
		if n := cluster.AppliedRequests(crashItem(i).ID); n != 1 {
			t.Errorf("%s applied %d times on the server", crashItem(i).ID, n)
		}
	}
	ctr := cluster.Counters()
	if ctr.InvitationsStored != total {
		t.Errorf("server stored %d invitations, want %d", ctr.InvitationsStored, total)
	}
	// ... and in order per key (but for the items set aside).
	msgs := cluster.Messages(childRecipient)
	sort.Slice(msgs, func(a, b int) bool { return msgID(t, msgs[a]) < msgID(t, msgs[b]) })
	last := map[string]int{}
	for _, m := range msgs {
		n := payloadIndex(t, m)
		if abandoned[crashItem(n).ID] {
			continue
		}
		if prev, ok := last[m.SpaceID]; ok && n < prev {
			t.Errorf("space %s: item %d stored after item %d", m.SpaceID, n, prev)
		}
		last[m.SpaceID] = n
	}
	t.Logf("clean run done after %v", time.Since(began))
	t.Logf("server: %d invitations stored, %d sendinvitation requests, %d redeliveries absorbed by requestid",
		ctr.InvitationsStored, ctr.Requests[wire.CmdSendInvitation], ctr.DuplicateRequestIDs)
}

func msgID(t *testing.T, m wire.Message) int64 {
	n, err := strconv.ParseInt(m.ID, 10, 64)
	if err != nil {
		t.Fatalf("message id %q: %v", m.ID, err)
	}
	return n
}

func payloadIndex(t *testing.T, m wire.Message) int {
	var n int
	if _, err := fmt.Sscanf(decodeB64(t, m.Payload), "%d", &n); err != nil {
		t.Fatalf("payload of message %s: %v", m.ID, err)
	}
	return n
}

// login returns a session of user0.
func login(t testing.TB, hc *http.Client, base string) string {
	t.Helper()
	body, err := wire.EncodeRequest(&wire.Request{
		Command: wire.CmdLoginUser, RequestTime: time.Now().Unix(),
		Fields: []wire.Field{{Name: "username", Value: "user0"}, {Name: "password", Value: regsim.DefaultPassword}},
	})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := post(context.Background(), hc, base, body)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Exception != nil {
		t.Fatal(reply.Exception)
	}
	s, ok := reply.Get("session")
	if !ok {
		t.Fatal("no session in the login reply")
	}
	return s
}
