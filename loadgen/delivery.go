package loadgen

import (
	"context"
	"slices"
	"time"
)

// drainPhase waits, bounded by DrainTimeout, until no client has anything
// queued and every invitation sent has been received.
func (e *engine) drainPhase(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.DrainTimeout)
	defer cancel()
	for {
		if d := e.delivery(); d.Received >= d.Accepted && d.Queued == 0 {
			return
		}
		if sleepCtx(ctx, 250*time.Millisecond) != nil {
			return
		}
	}
}

// delivery accounts for the invitations so far: accepted are those created
// and neither still queued, dead, nor rejected.
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
		Accepted:   e.invitesCreated.Load() - e.invitesFailed.Load() - e.invitesCanceled.Load() - queued - dead,
		Received:   e.received.Load(),
		Duplicated: e.duplicated.Load(),
		Queued:     queued,
		Dead:       dead,
	}
	d.Settle()
	return d
}
