package loadgen

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regfleet/regfleet/client"
	"github.com/regfleet/regfleet/offline"
)

// opDeliver is the user operation of an invitation's delivery: from the
// moment its sender learned the server had accepted it (the call's reply,
// or the outbox drain's) to the moment its recipient's poll handed it over.
// A recipient that received it before its sender learned of the acceptance
// records 0.
const opDeliver = "deliver"

// Pending reasons of Delivery.PendingReason.
const (
	pendingDrain       = "the drain phase ended before the recipients' next poll"
	pendingInterrupted = "the run was interrupted before the recipients' next poll"
)

// tracker follows each invitation of the run from its creation through its
// acceptance by the server to its receipt, so that the end of the run can
// tell an invitation that was lost (its recipient completed a poll begun
// after the acceptance and did not get it) from one that is only pending
// (its recipient has not polled since). It is safe for concurrent use.
type tracker struct {
	rec *Recorder

	mu       sync.Mutex
	invs     map[string]*tracked  // by token, until both accepted and received
	byID     map[string]string    // queued invitations: idempotency key → token
	sentIDs  map[string]time.Time // accepted by a drain before the sender saw the receipt
	accepted int64                // distinct invitations known accepted (or received)
	inFlight atomic.Int64         // invitations being sent
}

// tracked is one invitation on its way.
type tracked struct {
	to       int       // the recipient's fleet index
	accepted time.Time // zero until known
	received time.Time // zero until received
	counted  bool      // counted in tracker.accepted
}

func newTracker(rec *Recorder) *tracker {
	return &tracker{rec: rec, invs: make(map[string]*tracked), byID: make(map[string]string), sentIDs: make(map[string]time.Time)}
}

// created notes an invitation to recipient to before it is sent.
func (t *tracker) created(token string, to int) {
	t.mu.Lock()
	t.invs[token] = &tracked{to: to}
	t.mu.Unlock()
}

// acceptedAt notes that the server accepted the invitation token at.
func (t *tracker) acceptedAt(token string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	inv := t.invs[token]
	if inv == nil || !inv.accepted.IsZero() {
		return
	}
	inv.accepted = at
	if !inv.counted {
		inv.counted = true
		t.accepted++
	}
	if inv.received.IsZero() {
		return
	}
	delete(t.invs, token)
	t.mu.Unlock()
	// Received before its sender learned of the acceptance: 0. Recorded
	// outside the lock, which every client's sends and receipts take.
	t.rec.RecordDelivery(at, at)
	t.mu.Lock()
}

// queuedAs notes that the invitation token waits in its sender's outbox
// under the idempotency key id.
func (t *tracker) queuedAs(token, id string) {
	t.mu.Lock()
	at, sent := takeOrPut(t.sentIDs, t.byID, id, token)
	t.mu.Unlock()
	if sent {
		t.acceptedAt(token, at)
	}
}

// drained notes that an outbox drain delivered the item id at.
func (t *tracker) drained(id string, at time.Time) {
	t.mu.Lock()
	token, ok := takeOrPut(t.byID, t.sentIDs, id, at)
	t.mu.Unlock()
	if ok {
		t.acceptedAt(token, at)
	}
}

// takeOrPut pairs the two halves of a queued invitation's news, which come
// in either order: the other half's value under id if it came first
// (removed), else v is put under id to wait for it.
func takeOrPut[A, B any](other map[string]A, mine map[string]B, id string, v B) (A, bool) {
	a, ok := other[id]
	if ok {
		delete(other, id)
	} else {
		mine[id] = v
	}
	return a, ok
}

// receivedAt notes the first receipt of the invitation token.
func (t *tracker) receivedAt(token string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	inv := t.invs[token]
	if inv == nil {
		return
	}
	if !inv.counted {
		// The server applied it, whatever its sender was told.
		inv.counted = true
		t.accepted++
	}
	if inv.accepted.IsZero() {
		inv.received = at
		return
	}
	accepted := inv.accepted
	delete(t.invs, token)
	t.mu.Unlock()
	t.rec.RecordDelivery(accepted, at)
	t.mu.Lock()
}

// refused forgets the invitation token, which the server refused.
func (t *tracker) refused(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if inv := t.invs[token]; inv != nil && !inv.counted {
		delete(t.invs, token)
	}
}

// sending counts the invitations being sent, which the drain phase waits
// for: one accepted a moment after the check would be counted pending.
func (t *tracker) sending(delta int64) { t.inFlight.Add(delta) }

// acceptedCount returns the invitations known accepted so far.
func (t *tracker) acceptedCount() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.accepted
}

// unreceived returns, of the accepted invitations not received, those whose
// recipient completed a poll begun after the acceptance (lost) and the
// others (pending); lastPoll gives a recipient's last such poll start.
func (t *tracker) unreceived(lastPoll func(to int) time.Time) (lost, pending int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, inv := range t.invs {
		if inv.accepted.IsZero() || !inv.received.IsZero() {
			continue
		}
		if lastPoll(inv.to).After(inv.accepted) {
			lost++
		} else {
			pending++
		}
	}
	return lost, pending
}

// trackedOutbox is a client's outbox that tells the tracker when a drain
// delivers an invitation.
type trackedOutbox struct {
	offline.Manager
	t *tracker
}

// Drain drains the outbox, noting each item delivered.
func (o trackedOutbox) Drain(ctx context.Context, send offline.SendFunc) (offline.DrainResult, error) {
	return o.Manager.Drain(ctx, func(ctx context.Context, it offline.Item) error {
		err := send(ctx, it)
		if err == nil {
			o.t.drained(it.ID, time.Now())
		}
		return err
	})
}

// drainPhase waits, bounded by the drain timeout, until no client has
// anything queued and every invitation accepted has been received.
func (e *engine) drainPhase(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, e.drainTimeout())
	defer cancel()
	for {
		if d := e.delivery(); d.Received >= d.Accepted && d.Queued == 0 && e.track.inFlight.Load() == 0 {
			return
		}
		// Once a second: the check reads every client's outbox (a query
		// each with durable outboxes).
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
	}
}

// drainTimeout is Config.DrainTimeout, or, when the user left it to the
// default, at least one effective poll interval with its jitter and an
// attempt timeout: every recipient polls once more before the drain ends.
func (e *engine) drainTimeout() time.Duration {
	if !e.cfg.drainDefault {
		return e.cfg.DrainTimeout
	}
	jitter := e.cfg.PollJitter
	if jitter == 0 {
		jitter = client.DefaultPollJitter
	}
	poll := e.effectivePoll()
	return max(e.cfg.DrainTimeout, poll+time.Duration(float64(poll)*jitter)+e.cfg.Timeout)
}

// effectivePoll is the wait between polls the fleet keeps to: the
// clients' poll interval, or the server's <pollinterval> when longer.
func (e *engine) effectivePoll() time.Duration {
	if e.cfg.SlowDown.Interval > 0 && e.cluster != nil {
		// The clients saw the slow-down's interval, which is not the
		// floor they keep to: the cluster's own is.
		return max(e.cfg.PollInterval, e.basePoll)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.cfg.PollInterval
	for _, s := range e.sims {
		d = max(d, s.c.PollInterval())
	}
	return d
}

// delivery accounts for the invitations so far.
func (e *engine) delivery() Delivery {
	e.mu.Lock()
	sims := slices.Clone(e.sims)
	e.mu.Unlock()
	var queued, dead int64
	for _, s := range sims {
		q, _ := s.ob.Len(context.Background())
		queued += int64(q)
		dl, _ := s.ob.Dead(context.Background())
		dead += int64(len(dl))
	}
	d := Delivery{
		Accepted:   e.track.acceptedCount(),
		Received:   e.received.Load(),
		Duplicated: e.duplicated.Load(),
		Queued:     queued,
		Dead:       dead,
	}
	d.Settle()
	return d
}

// finalDelivery is delivery at the end of the run, with the accepted
// invitations not received told apart: lost or pending.
func (e *engine) finalDelivery(interrupted bool, drain time.Duration) Delivery {
	d := e.delivery()
	bySim := make(map[int]*sim)
	e.mu.Lock()
	for _, s := range e.sims {
		bySim[s.idx] = s
	}
	e.mu.Unlock()
	d.Lost, d.Pending = e.track.unreceived(func(to int) time.Time {
		if s := bySim[to]; s != nil {
			return time.Unix(0, s.lastPoll.Load())
		}
		return time.Time{}
	})
	if d.Pending > 0 {
		d.PendingReason = pendingDrain
		if interrupted {
			d.PendingReason = pendingInterrupted
		}
		d.PendingReason += fmt.Sprintf(" (drain phase %s, effective poll interval %s)", fmtDur(drain), fmtDur(e.effectivePoll()))
	}
	d.DrainPhase = Duration(drain)
	return d
}
