//go:build drill && linux

package drill

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/regfleet/regfleet/client"
)

// group is how a client reaches the service.
type group string

const (
	groupLB group = "lb" // the HAProxy URL only
	groupRR group = "rr" // both instance URLs: client-side round robin
	groupPB group = "pb" // instance 0 as primary, instance 1 as backup
)

var allGroups = []group{groupLB, groupRR, groupPB}

// fleetConfig configures the drill's SDK clients.
type fleetConfig struct {
	LB, RR, PB int // clients per group; client i logs in as user<i>
	LBURL      string
	InstURLs   []string // the instances' network addresses (relays)
	Password   string

	PollInterval    time.Duration
	PollMaxInterval time.Duration
	RecoverySpread  time.Duration
	AttemptTimeout  time.Duration
	EjectionTime    time.Duration
	MaxEjectionTime time.Duration
	// OpInterval is the mean wait between two application calls
	// (GetSettings, online only) of one client.
	OpInterval time.Duration
}

func (c fleetConfig) total() int { return c.LB + c.RR + c.PB }

// member is one SDK client: a desktop application in the drill.
type member struct {
	idx   int
	group group
	c     *client.Client
	tr    *http.Transport
	unsub func()
}

type opOutcome int

const (
	opOK      opOutcome = iota
	opOffline           // ErrOffline: refused at once while Red
	opFailed            // any other error
)

// opEvent is one application call of the activity loop.
type opEvent struct {
	member int
	group  group
	at     time.Time
	lat    time.Duration
	out    opOutcome
	err    string
}

// stateEvent is one reachability change a client reported to its
// subscriber.
type stateEvent struct {
	member int
	group  group
	level  client.State
	tier   client.Tier
	since  time.Time
	err    string // StateInfo.LastErr of a Red event
}

// fleet is the drill's set of SDK clients with their activity: each polls
// for messages (client.StartPolling) and calls GetSettings every
// OpInterval (jittered), as an application would.
type fleet struct {
	cfg     fleetConfig
	members []*member
	cancel  context.CancelFunc
	wg      sync.WaitGroup // activity loops

	mu     sync.Mutex
	ops    []opEvent      // guarded by mu
	states []stateEvent   // guarded by mu
	inbox  map[string]int // guarded by mu; invitation token → deliveries
}

// tokenPrefix marks the payloads of the drill's invitations.
const tokenPrefix = "drill/"

// startFleet creates, logs in and registers every client, then starts the
// poll loops and activity loops.
func startFleet(ctx context.Context, cfg fleetConfig) (*fleet, error) {
	f := &fleet{cfg: cfg, inbox: map[string]int{}}
	var runCtx context.Context
	runCtx, f.cancel = context.WithCancel(context.Background())
	for i := range cfg.total() {
		m := &member{idx: i, group: groupPB}
		switch {
		case i < cfg.LB:
			m.group = groupLB
		case i < cfg.LB+cfg.RR:
			m.group = groupRR
		}
		f.members = append(f.members, m)
	}

	errs := make([]error, len(f.members))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, m := range f.members {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = f.setup(ctx, runCtx, m)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.close()
		return nil, err
	}
	for _, m := range f.members {
		rng := rand.New(rand.NewPCG(uint64(m.idx)+1, 0x5eed))
		f.wg.Go(func() { f.activity(runCtx, m, rng) })
	}
	return f, nil
}

// setup connects m (see connect), retrying with a fresh client up to three
// times: setup is not under test, and a client whose first login failed is
// Red and refuses further logins (online only) until a poll succeeds.
func (f *fleet) setup(ctx, runCtx context.Context, m *member) error {
	var err error
	for try := range 3 {
		if try > 0 {
			m.close()
			if werr := observe(ctx, time.Duration(try)*500*time.Millisecond); werr != nil {
				return werr
			}
		}
		if err = f.connect(ctx, m); err == nil {
			return m.c.StartPolling(runCtx, func(_ context.Context, msg client.Message) { f.received(msg) })
		}
	}
	return err
}

// connect creates m's client, logs in and registers a device.
func (f *fleet) connect(ctx context.Context, m *member) error {
	cfg := client.Config{
		Username:        fmt.Sprintf("user%d", m.idx),
		Password:        f.cfg.Password,
		PollInterval:    f.cfg.PollInterval,
		PollMaxInterval: f.cfg.PollMaxInterval,
		RecoverySpread:  f.cfg.RecoverySpread,
		AttemptTimeout:  f.cfg.AttemptTimeout,
		EjectionTime:    f.cfg.EjectionTime,
		MaxEjectionTime: f.cfg.MaxEjectionTime,
		Seed:            uint64(m.idx) + 1,
	}
	switch m.group {
	case groupLB:
		cfg.URLs = []string{f.cfg.LBURL}
	case groupRR:
		cfg.URLs = f.cfg.InstURLs
	case groupPB:
		cfg.URLs, cfg.BackupURLs = f.cfg.InstURLs[:1], f.cfg.InstURLs[1:]
	}
	// Each application has its own connection pool, as on a desktop.
	m.tr = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	cfg.HTTPClient = &http.Client{Transport: m.tr}
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	m.c = c
	m.unsub = c.Subscribe(func(s client.StateInfo) {
		ev := stateEvent{member: m.idx, group: m.group, level: s.Level, tier: s.Tier, since: s.Since}
		if s.Level == client.Red && s.LastErr != nil {
			ev.err = s.LastErr.Error()
		}
		f.mu.Lock()
		f.states = append(f.states, ev)
		f.mu.Unlock()
	})
	if _, err := c.Login(ctx); err != nil {
		return fmt.Errorf("client %d login: %w", m.idx, err)
	}
	if _, err := c.RegisterDevice(ctx, fmt.Sprintf("drill-device-%d", m.idx), "drill-public-key"); err != nil {
		return fmt.Errorf("client %d registerdevice: %w", m.idx, err)
	}
	return nil
}

// close closes m's client and its connections; m can connect again.
func (m *member) close() {
	if m.c == nil {
		return
	}
	m.unsub()
	_ = m.c.Close()
	m.tr.CloseIdleConnections()
	m.c, m.tr, m.unsub = nil, nil, nil
}

// received records an invitation a client's poll loop handed over (once
// per message id: the client de-duplicates redeliveries of one message, so
// a second count means the server stored the invitation twice).
func (f *fleet) received(msg client.Message) {
	raw, err := base64.StdEncoding.DecodeString(msg.Payload)
	if err != nil || !strings.HasPrefix(string(raw), tokenPrefix) {
		return
	}
	f.mu.Lock()
	f.inbox[string(raw)]++
	f.mu.Unlock()
}

// activity calls GetSettings every OpInterval (±50%) until ctx ends.
func (f *fleet) activity(ctx context.Context, m *member, rng *rand.Rand) {
	d := f.cfg.OpInterval
	t := time.NewTimer(time.Duration(rng.Int64N(int64(d))))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		callCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		start := time.Now()
		_, err := m.c.GetSettings(callCtx)
		cancel()
		if ctx.Err() != nil {
			return // the drill is ending: not an outcome
		}
		f.record(m, start, time.Since(start), err)
		t.Reset(d/2 + time.Duration(rng.Int64N(int64(d))))
	}
}

func (f *fleet) record(m *member, at time.Time, lat time.Duration, err error) {
	ev := opEvent{member: m.idx, group: m.group, at: at, lat: lat}
	switch {
	case err == nil:
	case errors.Is(err, client.ErrOffline):
		ev.out = opOffline
	default:
		ev.out, ev.err = opFailed, err.Error()
	}
	f.mu.Lock()
	f.ops = append(f.ops, ev)
	f.mu.Unlock()
}

// close stops the activity loops and closes every client.
func (f *fleet) close() {
	f.cancel()
	f.wg.Wait()
	for _, m := range f.members {
		m.close()
	}
}

// of returns the members of the groups (all groups when none is named).
func (f *fleet) of(groups ...group) []*member {
	if len(groups) == 0 {
		groups = allGroups
	}
	var out []*member
	for _, m := range f.members {
		if slices.Contains(groups, m.group) {
			out = append(out, m)
		}
	}
	return out
}

// count returns how many members of the groups are at level now.
func (f *fleet) count(level client.State, groups ...group) (n, total int) {
	for _, m := range f.of(groups...) {
		total++
		if m.c.State().Level == level {
			n++
		}
	}
	return n, total
}

// all reports whether every member of the groups is at level.
func (f *fleet) all(level client.State, groups ...group) bool {
	n, total := f.count(level, groups...)
	return n == total
}

// tierCount returns how many members of the groups are Green and served by
// tier now.
func (f *fleet) tierCount(tier client.Tier, groups ...group) int {
	n := 0
	for _, m := range f.of(groups...) {
		if s := m.c.State(); s.Level == client.Green && s.Tier == tier {
			n++
		}
	}
	return n
}

// opSummary sums the activity loop's calls of a window.
type opSummary struct {
	Total, OK, Offline, Failed int
	MaxLat, MaxOfflineLat      time.Duration
	Samples                    []string
}

// opsIn sums the calls started in [from, to) by members of the groups.
func (f *fleet) opsIn(from, to time.Time, groups ...group) opSummary {
	if len(groups) == 0 {
		groups = allGroups
	}
	var s opSummary
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range f.ops {
		if ev.at.Before(from) || !ev.at.Before(to) || !slices.Contains(groups, ev.group) {
			continue
		}
		s.Total++
		s.MaxLat = max(s.MaxLat, ev.lat)
		switch ev.out {
		case opOK:
			s.OK++
		case opOffline:
			s.Offline++
			s.MaxOfflineLat = max(s.MaxOfflineLat, ev.lat)
		case opFailed:
			s.Failed++
			if len(s.Samples) < 3 {
				s.Samples = append(s.Samples, fmt.Sprintf("client %d (%s): %s", ev.member, ev.group, ev.err))
			}
		}
	}
	return s
}

// wentRed returns how many members of the groups turned Red in [from, to),
// with the error that turned the first few Red.
func (f *fleet) wentRed(from, to time.Time, groups ...group) (n int, samples []string) {
	if len(groups) == 0 {
		groups = allGroups
	}
	seen := map[int]bool{}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range f.states {
		if ev.level != client.Red || ev.since.Before(from) || !ev.since.Before(to) || !slices.Contains(groups, ev.group) || seen[ev.member] {
			continue
		}
		seen[ev.member] = true
		if len(samples) < 3 {
			samples = append(samples, fmt.Sprintf("client %d (%s) Red at +%.1fs: %s", ev.member, ev.group, ev.since.Sub(from).Seconds(), ev.err))
		}
	}
	return len(seen), samples
}

// greenAfter returns, over the members listed, the longest time from t to
// the member's first turn to Green at or after t, and how many have not
// turned Green since t.
func (f *fleet) greenAfter(t time.Time, members []int) (longest time.Duration, missing int) {
	first := map[int]time.Time{}
	f.mu.Lock()
	for _, ev := range f.states {
		if ev.level != client.Green || ev.since.Before(t) {
			continue
		}
		if at, ok := first[ev.member]; !ok || ev.since.Before(at) {
			first[ev.member] = ev.since
		}
	}
	f.mu.Unlock()
	for _, i := range members {
		at, ok := first[i]
		if !ok {
			missing++
			continue
		}
		longest = max(longest, at.Sub(t))
	}
	return longest, missing
}

// redNow returns the members of the groups that are Red now.
func (f *fleet) redNow(groups ...group) []int {
	var out []int
	for _, m := range f.of(groups...) {
		if m.c.State().Level == client.Red {
			out = append(out, m.idx)
		}
	}
	return out
}

// sendSummary is the outcome of a round of invitations.
type sendSummary struct {
	Tokens         []string
	Queued, Direct int
	Failed         int
	Samples        []string
}

// sendInvitations has every member of the groups invite the next user
// (user<i+1>) to a space, with a payload token unique to tag.
func (f *fleet) sendInvitations(ctx context.Context, tag string, groups ...group) sendSummary {
	ms := f.of(groups...)
	type out struct {
		token string
		r     client.Receipt
		err   error
	}
	res := make([]out, len(ms))
	var wg sync.WaitGroup
	for k, m := range ms {
		wg.Go(func() {
			token := fmt.Sprintf("%s%s/%d", tokenPrefix, tag, m.idx)
			callCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			r, err := m.c.SendInvitation(callCtx, client.Invitation{
				SpaceID:   "drill-" + tag,
				Recipient: fmt.Sprintf("user%d", (m.idx+1)%f.cfg.total()),
				Payload:   []byte(token),
			})
			res[k] = out{token, r, err}
		})
	}
	wg.Wait()
	var s sendSummary
	for k, o := range res {
		switch {
		case o.err != nil:
			s.Failed++
			if len(s.Samples) < 3 {
				s.Samples = append(s.Samples, fmt.Sprintf("client %d: %v", ms[k].idx, o.err))
			}
		case o.r.Queued:
			s.Queued++
			s.Tokens = append(s.Tokens, o.token)
		default:
			s.Direct++
			s.Tokens = append(s.Tokens, o.token)
		}
	}
	return s
}

// delivery returns how many of the tokens were never received and how
// many extra deliveries there were.
func (f *fleet) delivery(tokens []string) (lost, duplicated int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range tokens {
		switch n := f.inbox[t]; {
		case n == 0:
			lost++
		case n > 1:
			duplicated += n - 1
		}
	}
	return lost, duplicated
}

// waveSummary is the outcome of a round of online-only calls.
type waveSummary struct {
	Total, Offline, Other int
	MaxLat                time.Duration
	Samples               []string
}

// onlineOnlyWave has every member of the groups call GetSettings and Login
// (both online only) and sums how they failed.
func (f *fleet) onlineOnlyWave(ctx context.Context, groups ...group) waveSummary {
	ms := f.of(groups...)
	type out struct {
		lat  time.Duration
		errs [2]error
	}
	res := make([]out, len(ms))
	var wg sync.WaitGroup
	for k, m := range ms {
		wg.Go(func() {
			callCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			start := time.Now()
			_, err1 := m.c.GetSettings(callCtx)
			_, err2 := m.c.Login(callCtx)
			res[k] = out{time.Since(start), [2]error{err1, err2}}
		})
	}
	wg.Wait()
	var s waveSummary
	for k, o := range res {
		for _, err := range o.errs {
			s.Total++
			if errors.Is(err, client.ErrOffline) {
				s.Offline++
				continue
			}
			s.Other++
			if len(s.Samples) < 3 {
				s.Samples = append(s.Samples, fmt.Sprintf("client %d: %v", ms[k].idx, err))
			}
		}
		s.MaxLat = max(s.MaxLat, o.lat)
	}
	return s
}

// endpointRequests sums, over the members of the groups, the attempts each
// client sent to its endpoint number ep (its Stats order: primaries, then
// backups).
func (f *fleet) endpointRequests(ep int, groups ...group) int64 {
	var n int64
	for _, m := range f.of(groups...) {
		st := m.c.Stats()
		if ep < len(st.Endpoints) {
			n += st.Endpoints[ep].Requests
		}
	}
	return n
}

// endpointStates counts, over the members of the groups, in which state
// each client holds its endpoint number ep: healthy, waiting for its trial
// call, or ejected.
func (f *fleet) endpointStates(ep int, groups ...group) (healthy, trial, ejected int) {
	for _, m := range f.of(groups...) {
		st := m.c.Stats()
		if ep >= len(st.Endpoints) {
			continue
		}
		switch e := st.Endpoints[ep]; {
		case e.Healthy:
			healthy++
		case e.Ejected:
			ejected++
		default:
			trial++
		}
	}
	return healthy, trial, ejected
}
