package loadgen

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/internal/wire"
	"github.com/regfleet/regfleet/offline"
	"github.com/regfleet/regfleet/offline/sqlite"
)

// openModel hands invitations to random clients at Rate per second.
func (e *engine) openModel(ctx context.Context, start time.Time) {
	p, err := NewPacer(PacerConfig{Rate: e.cfg.Rate, RampUp: e.cfg.RampUp, Start: start, Recorder: e.rec})
	if err != nil {
		e.log.Error("pacer", "err", err)
		return
	}
	rng := rand.New(rand.NewPCG(e.cfg.Seed, 0x9e3779b97f4a7c15))
	// In-flight sends are bounded so that a stalled server cannot make the
	// generator grow without bound; a send waiting for a slot still counts
	// from its intended time.
	slots := make(chan struct{}, max(64, 4*e.owned()))
	var wg sync.WaitGroup
	defer wg.Wait()
	end := e.start.Add(e.cfg.Duration)
	p.Stop(end)
	for {
		s, err := p.Next(ctx)
		if err != nil || !s.Intended.Before(end) {
			return
		}
		target := e.randomSim(ctx, rng, end)
		if target == nil {
			e.rec.RecordOperation(opInvite, s.Intended, time.Now(), Outcome{Class: "no-client"})
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			target.invite(ctx, s.Intended)
		})
	}
}

// randomSim returns a random client of the fleet. Before the first client
// exists (the pacer's first send is due at the very start) it waits for
// one, until ctx ends or the run's end; nil if none came.
func (e *engine) randomSim(ctx context.Context, rng *rand.Rand, end time.Time) *sim {
	select {
	case <-e.firstSim:
	default:
		t := time.NewTimer(time.Until(end))
		defer t.Stop()
		select {
		case <-e.firstSim:
		case <-ctx.Done():
			return nil
		case <-t.C:
			return nil
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sims[rng.IntN(len(e.sims))]
}

// opInvite is the name under which the engine records the user operation
// "send an invitation" with Recorder.RecordOperation, from its intended
// time, whether the client sent it at once or queued it; the protocol call
// itself is recorded as the command "sendinvitation" when it reaches the
// network, and only the call counts in the report's totals.
const opInvite = "invite"

// sim is one simulated desktop client.
type sim struct {
	e     *engine
	idx   int
	user  string
	c     *client.Client
	ob    offline.Manager
	seq   atomic.Int64
	trans transport // own transport with ConnPerClient
	// lastPoll is the start (UnixNano) of the last poll that completed
	// with room to spare: an invitation accepted before it and not
	// received is lost. A reply of as many messages as the poll asks for
	// may have left the invitation on the server: it does not count.
	lastPoll atomic.Int64

	mu   sync.Mutex // guards the fields below
	rng  *rand.Rand
	seen map[string]int
	// The closed model's invitations: a timer while waiting, the timer's
	// goroutine while sending. engine.invites counts an armed timer or a
	// send in progress.
	invTimer   *time.Timer
	invCtx     context.Context
	invNext    time.Time // intended time of the next invitation
	invArmed   bool
	invStopped bool
}

// startFleet starts the owned clients evenly over the ramp-up, each on a
// goroutine of wg that ends once the client is set up.
func (e *engine) startFleet(ctx context.Context, start time.Time, wg *sync.WaitGroup) {
	owned := e.owners
	for k, i := range owned {
		at := start
		if len(owned) > 1 {
			at = start.Add(time.Duration(float64(e.cfg.RampUp) * float64(k) / float64(len(owned))))
		}
		if sleepCtx(ctx, time.Until(at)) != nil {
			return
		}
		wg.Go(func() { e.startClient(ctx, i, at) })
	}
}

// stopInvitations ends the closed model's invitations: no timer fires
// after it, and e.invites counts only invitations already being sent.
func (e *engine) stopInvitations() {
	e.stopSending.Store(true)
	e.mu.Lock()
	sims := slices.Clone(e.sims)
	e.mu.Unlock()
	for _, s := range sims {
		s.stopInvites()
	}
}

func (e *engine) startClient(ctx context.Context, idx int, at time.Time) {
	s, err := e.newSim(idx)
	if err != nil {
		e.log.Error("client", "index", idx, "err", err)
		e.rec.Record("newclient", at, time.Now(), Outcome{Class: ClassOther})
		e.setupLog.fail("newclient", err)
		return
	}
	e.mu.Lock()
	e.sims = append(e.sims, s)
	if len(e.sims) == 1 {
		close(e.firstSim)
	}
	e.mu.Unlock()
	s.setUp(ctx)
}

func (e *engine) newSim(idx int) (*sim, error) {
	s := &sim{
		e:    e,
		idx:  idx,
		user: e.cfg.UserPrefix + strconv.Itoa(idx),
		rng:  rand.New(rand.NewPCG(e.cfg.Seed, uint64(idx))),
		seen: make(map[string]int),
	}
	if e.outboxDir == "" {
		s.ob = offline.NewMemory(offline.MemoryOptions{})
	} else {
		ob, err := sqlite.Open(filepath.Join(e.outboxDir, s.user+".db"), sqlite.Options{})
		if err != nil {
			return nil, err
		}
		s.ob = ob
	}
	s.ob = trackedOutbox{Manager: s.ob, t: e.track}
	var rt http.RoundTripper = e.shared
	switch {
	case e.cfg.memCluster != nil:
		rt = e.cfg.memCluster.Transport()
		if e.cfg.wrapTransport != nil {
			rt = e.cfg.wrapTransport(rt)
		}
	case e.cfg.ConnPerClient:
		s.trans = newTransport(e.cfg.Transport, e.dial, e.tlsConf, &e.bufs, 2, 0, e.files.idlePerClient)
		rt = s.trans
	}
	c, err := client.New(client.Config{
		URLs:            e.urls,
		BackupURLs:      e.cfg.BackupURLs,
		Username:        s.user,
		Password:        e.cfg.Password,
		Salt:            e.cfg.Salt,
		HTTPClient:      &http.Client{Transport: &countingTransport{rt: rt, rec: e.rec}},
		Outbox:          s.ob,
		PollInterval:    e.cfg.PollInterval,
		PollJitter:      e.cfg.PollJitter,
		PollMaxInterval: e.cfg.PollMaxInterval,
		RecoverySpread:  e.cfg.RecoverySpread,
		DrainRate:       e.cfg.DrainRate,
		DisableJitter:   e.cfg.Naive,
		AttemptTimeout:  e.cfg.Timeout,
		Seed:            e.cfg.Seed ^ uint64(idx+1)*0x9e3779b97f4a7c15,
		OnCall:          s.onCall,
	})
	if err != nil {
		s.ob.Close()
		return nil, err
	}
	s.c = c
	return s, nil
}

func (s *sim) close() {
	s.c.Close()
	s.ob.Close()
	if s.trans != nil {
		s.trans.CloseIdleConnections()
	}
}

// onCall records every call the client makes, the poll loop's included,
// except calls the end of the run canceled: those have no outcome.
func (s *sim) onCall(ci client.CallInfo) {
	if errors.Is(ci.Err, context.Canceled) || errors.Is(ci.Err, client.ErrClosed) {
		return
	}
	o := Outcome{Endpoint: ci.Endpoint, Class: classify(ci.Err)}
	// A call the client made on its own schedule (a poll, a health probe)
	// is a timed action of the simulated desktop: its lag goes into the
	// schedule, and its latency counts from when it was due, so that a
	// generator too busy to start it on time shows instead of hiding.
	from := ci.Start
	if !ci.Due.IsZero() {
		s.e.rec.RecordLag(ci.Due, ci.Start)
		from = ci.Due
	}
	// The simulated clients poll with the SDK's PollMaxMessages.
	if ci.Command == wire.CmdGetMessages && ci.Err == nil && ci.Messages < client.DefaultPollMaxMessages {
		for start := ci.Start.UnixNano(); ; {
			old := s.lastPoll.Load()
			if old >= start || s.lastPoll.CompareAndSwap(old, start) {
				break
			}
		}
	}
	s.e.rec.Record(ci.Command, from, ci.Start.Add(ci.Duration), o)
}

// setUp logs in, registers a device, starts polling and (closed model)
// schedules the first invitation.
func (s *sim) setUp(ctx context.Context) {
	// Login and device registration are online-only: retry them until the
	// server answers, as a desktop application would.
	for attempt := 0; ; attempt++ {
		if _, err := s.c.Login(ctx); err == nil {
			break
		} else if ctx.Err() != nil {
			return
		} else if isPermanent(err) {
			s.e.setupLog.fail(wire.CmdLoginUser, err)
			return
		}
		if sleepCtx(ctx, s.backoff(attempt)) != nil {
			return
		}
	}
	for attempt := 0; ; attempt++ {
		if _, err := s.c.RegisterDevice(ctx, "loadgen-"+s.user, "pk-"+s.user); err == nil {
			break
		} else if ctx.Err() != nil {
			return
		} else if isPermanent(err) {
			s.e.setupLog.fail(wire.CmdRegisterDevice, err)
			return
		}
		if sleepCtx(ctx, s.backoff(attempt)) != nil {
			return
		}
	}
	if err := s.c.StartPolling(ctx, s.handle); err != nil {
		return
	}
	s.e.setupLog.start()
	s.e.mu.Lock()
	s.e.polling = append(s.e.polling, s.idx)
	s.e.mu.Unlock()
	if s.e.cfg.Rate > 0 || s.e.cfg.InviteRate <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.invStopped || s.e.stopSending.Load() {
		return
	}
	s.invCtx = ctx
	s.invNext = time.Now().Add(s.interArrivalLocked())
	s.e.invites.Add(1) // until the invitations stop; stopInvitations precedes invites.Wait
	s.invArmed = true
	s.invTimer = time.AfterFunc(time.Until(s.invNext), s.inviteTick)
}

// interArrivalLocked draws the wait until the next invitation of the
// closed model (Poisson arrivals at InviteRate per minute).
func (s *sim) interArrivalLocked() time.Duration {
	mean := time.Minute.Seconds() / s.e.cfg.InviteRate
	return time.Duration(s.rng.ExpFloat64() * mean * float64(time.Second))
}

// inviteTick sends the invitation due at s.invNext on the timer's
// goroutine and arms the timer for the next one.
func (s *sim) inviteTick() {
	s.mu.Lock()
	s.invArmed = false
	if s.invStopped {
		s.mu.Unlock()
		s.e.invites.Done()
		return
	}
	ctx, intended := s.invCtx, s.invNext
	s.mu.Unlock()

	// Recorded from the intended time: when the previous invitation ran
	// late, this one's wait counts against the server.
	s.invite(ctx, intended)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.invStopped || ctx.Err() != nil {
		s.invStopped = true
		s.e.invites.Done()
		return
	}
	s.invNext = intended.Add(s.interArrivalLocked())
	s.invArmed = true
	s.invTimer.Reset(time.Until(s.invNext))
}

// stopInvites stops the client's invitations: the timer, if armed, never
// fires; an invitation being sent finishes and arms nothing.
func (s *sim) stopInvites() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invStopped = true
	if s.invArmed && s.invTimer.Stop() {
		s.invArmed = false
		s.e.invites.Done()
	}
}

// invite sends one invitation to a random other user of the fleet.
func (s *sim) invite(ctx context.Context, intended time.Time) {
	// Recipients are other clients of this shard, so that each shard's
	// delivery accounting is complete on its own and shard reports add up,
	// and clients that poll already: an invitation to a desktop the
	// ramp-up has not started yet would measure the ramp-up as delivery
	// latency.
	to, ok := s.e.recipient(s.idx, s.intN)
	if !ok {
		// No other client polls yet (an open model's first sends): any
		// other client of the shard.
		owned := s.e.owners
		if len(owned) < 2 {
			return
		}
		to = owned[s.intN(len(owned))]
		if to == s.idx {
			to = owned[(slices.Index(owned, s.idx)+1)%len(owned)]
		}
	}
	// The token is unique to this run, so that invitations a real cluster
	// still holds from an earlier run are not taken for this run's.
	token := s.e.runID + ":" + strconv.Itoa(s.idx) + ":" + strconv.FormatInt(s.seq.Add(1), 10)
	s.e.track.created(token, to)
	s.e.track.sending(1)
	defer s.e.track.sending(-1)
	if s.e.cfg.Rate == 0 {
		// The open model's pacer records its own schedule lag.
		s.e.rec.RecordLag(intended, time.Now())
	}
	rc, err := s.c.SendInvitation(ctx, client.Invitation{
		SpaceID:   strconv.Itoa(s.idx),
		Recipient: s.e.cfg.UserPrefix + strconv.Itoa(to),
		Payload:   []byte(token),
	})
	switch {
	case errors.Is(err, context.Canceled):
		// The run ended first: no outcome to record.
		return
	case rc.Queued:
		s.e.track.queuedAs(token, rc.ID)
	case err != nil:
		s.e.track.refused(token)
	default:
		s.e.track.acceptedAt(token, time.Now())
	}
	// The call itself is recorded by onCall when it reached the network;
	// here the whole operation, from its intended time, is.
	s.e.rec.RecordOperation(opInvite, intended, time.Now(), Outcome{Class: classify(err)})
}

// handle receives each message once per id from the client's poll loop.
func (s *sim) handle(_ context.Context, m client.Message) {
	if m.Type != "invitation" {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(m.Payload)
	if err != nil {
		return
	}
	token, ok := strings.CutPrefix(string(raw), s.e.runID+":")
	if !ok {
		return // an invitation from another run
	}
	s.mu.Lock()
	s.seen[token]++
	first := s.seen[token] == 1
	s.mu.Unlock()
	if first {
		s.e.received.Add(1)
		s.e.track.receivedAt(s.e.runID+":"+token, time.Now())
	} else {
		s.e.duplicated.Add(1)
	}
}

// backoff is the wait before retrying a failed login or device
// registration: full jitter up to 250 ms doubling to at most 10 s.
func (s *sim) backoff(attempt int) time.Duration {
	ceiling := min(time.Duration(1<<min(attempt, 6))*250*time.Millisecond, 10*time.Second)
	return time.Duration(s.intN(int(ceiling))) + 1
}

// intN draws from the client's random source, which the open model's
// senders share with the client's own timers.
func (s *sim) intN(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.IntN(n)
}

func isPermanent(err error) bool {
	var se *client.ServerError
	return errors.As(err, &se) && se.Primary != 0 && se.Primary != wire.CodeDatabase && se.Primary != wire.CodeSessionExpired
}

// classify maps a client error to a Recorder error class, by the causes the
// client keeps (errors.Is/As through its CallError), never by message text.
func classify(err error) string {
	if err == nil {
		return ""
	}
	var se *client.ServerError
	var he *client.HTTPError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return ClassOpenFiles
	case errors.Is(err, client.ErrOffline):
		return ClassOffline
	case errors.Is(err, client.ErrRetryBudget):
		return ClassRetryBudget
	case errors.Is(err, client.ErrUnavailable):
		return ClassUnavailable
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	case errors.As(err, &se):
		return ClassException
	case errors.As(err, &he):
		return ClassHTTP
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassReset
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	}
	return ClassOther
}

// recipient picks a random client other than from among those that poll,
// with intN; false when there is none.
func (e *engine) recipient(from int, intN func(int) int) (int, bool) {
	e.mu.Lock()
	polling := e.polling // appended to, never changed: this prefix stays valid
	e.mu.Unlock()
	if len(polling) == 0 || len(polling) == 1 && polling[0] == from {
		return 0, false
	}
	for {
		if to := polling[intN(len(polling))]; to != from {
			return to, true
		}
	}
}
