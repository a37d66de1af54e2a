package regsim

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// Counters is a snapshot of what the cluster has seen since it was built. It
// encodes to JSON as the control endpoint's GET /counters answer.
type Counters struct {
	// Start is when the cluster was built (by its clock); RateSeries
	// buckets count from here.
	Start time.Time `json:"start"`
	// Requests counts API requests per command, once the body decoded.
	// "(invalid)" counts bodies that did not decode (HTTP 400, 413 or a
	// missing <command>) and "(unknown)" unknown commands. Requests turned
	// away by an instance fault before their body was decoded (Down,
	// Unavailable, ErrorRate, a Hang the client gave up on) are not in this
	// map, only in RequestsByInstance.
	Requests map[string]int64 `json:"requests"`
	// RequestsByInstance counts every request to the API path, per instance.
	RequestsByInstance []int64 `json:"requests_by_instance"`
	// HealthChecks counts requests to /healthz, all instances together.
	HealthChecks int64 `json:"health_checks"`
	// Replies counts the outcome of each API request by class: "ok" (a
	// result), "exception", "4xx", "5xx" (500 from ErrorRate), "503"
	// (Unavailable), "reset" (connection closed mid-reply, or dropped by
	// Down; a cut reply counts only here, whatever it held) and "hang" (a
	// request that began to hang; when released it is counted again by how
	// it ended, unless its client gave up). Health checks are not counted
	// here, whatever answered them.
	Replies map[string]int64 `json:"replies"`
	// Exceptions counts exception replies by primary code (those counted
	// in Replies["exception"]).
	Exceptions map[string]int64 `json:"exceptions"`
	// OpenConns and PeakConns are the connections open now and the most
	// open at once, over all instances. Through Transport, which has no
	// connections, every request in flight counts as one. Connections of a
	// server the caller built around Instance (an httptest.Server, say) are
	// not counted.
	OpenConns int64 `json:"open_conns"`
	PeakConns int64 `json:"peak_conns"`
	// OpenConnsByInstance is OpenConns per instance.
	OpenConnsByInstance []int64 `json:"open_conns_by_instance"`
	// RateBucketMillis is the width of one RateSeries bucket (100).
	RateBucketMillis int64 `json:"rate_bucket_ms"`
	// RateSeries counts API requests (all instances) per 100 ms bucket
	// since Start, by the cluster's clock.
	RateSeries []int64 `json:"rate_series"`

	// MessagesStored counts messages stored (one per recipient).
	MessagesStored int64 `json:"messages_stored"`
	// MessagesDelivered counts (message, device) pairs delivered for the
	// first time; MessagesRedelivered counts later deliveries of the same
	// pair before it was acknowledged.
	MessagesDelivered   int64 `json:"messages_delivered"`
	MessagesRedelivered int64 `json:"messages_redelivered"`
	// MessagesAcked counts (message, device) pairs acknowledged.
	MessagesAcked int64 `json:"messages_acked"`
	// MessagesExpired counts messages removed at the end of the storage
	// period; MessagesExpiredUnacked those of them that no device had
	// acknowledged.
	MessagesExpired        int64 `json:"messages_expired"`
	MessagesExpiredUnacked int64 `json:"messages_expired_unacked"`
	// MessagesPending is how many messages are stored now.
	MessagesPending int64 `json:"messages_pending"`
	// DuplicateRequestIDs counts mutating requests answered from the
	// idempotency record of an already applied requestid.
	DuplicateRequestIDs int64 `json:"duplicate_request_ids"`

	// Per-kind counts of applied operations.
	InvitationsStored      int64 `json:"invitations_stored"`
	CommentsStored         int64 `json:"comments_stored"`
	UsersRegistered        int64 `json:"users_registered"`
	Logins                 int64 `json:"logins"`
	DevicesRegistered      int64 `json:"devices_registered"`
	PasswordsChanged       int64 `json:"passwords_changed"`
	TemporaryPasswordsSent int64 `json:"temporary_passwords_sent"`
	KeyRepositoryChanges   int64 `json:"key_repository_changes"`

	// Gauges of the store now.
	Users    int64 `json:"users"`
	Sessions int64 `json:"sessions"`
	Devices  int64 `json:"devices"`
}

// Command indexes of the per-command counters.
var commandNames = [...]string{
	wire.CmdRegisterUser, wire.CmdLoginUser, wire.CmdRegisterDevice,
	wire.CmdSendInvitation, wire.CmdSendComment, wire.CmdGetMessages,
	wire.CmdAckMessages, wire.CmdChangePassword, wire.CmdSendPassword,
	wire.CmdSetKeyRepository, wire.CmdGetSettings,
	"(unknown)", "(invalid)",
}

const (
	cmdUnknown = len(commandNames) - 2
	cmdInvalid = len(commandNames) - 1
)

func commandIndex(name string) int {
	for i, n := range commandNames[:cmdUnknown] {
		if n == name {
			return i
		}
	}
	return cmdUnknown
}

// Reply classes.
type replyClass int

const (
	classOK replyClass = iota
	classException
	class4xx
	class5xx
	class503
	classReset
	classHang
	numClasses
)

var classNames = [numClasses]string{"ok", "exception", "4xx", "5xx", "503", "reset", "hang"}

// maxRateBuckets bounds the rate series (24 hours of 100 ms buckets);
// requests after that are not in the series.
const maxRateBuckets = 24 * 60 * 60 * 10

// counters are the live counters behind Counters. All methods are safe for
// concurrent use.
type counters struct {
	now   func() time.Time
	start time.Time

	commands [len(commandNames)]atomic.Int64
	classes  [numClasses]atomic.Int64
	health   atomic.Int64
	open     atomic.Int64
	peak     atomic.Int64

	excMu      sync.Mutex
	exceptions map[int]int64 // guarded by excMu

	rateMu  sync.Mutex
	buckets []int64 // guarded by rateMu

	msgStored, msgDelivered, msgRedelivered, msgAcked atomic.Int64
	msgExpired, msgExpiredUnacked, duplicates         atomic.Int64
	invitations, comments, registered, logins         atomic.Int64
	devices, passwords, tempPasswords, keyRepo        atomic.Int64
}

func newCounters(now func() time.Time) *counters {
	return &counters{now: now, start: now(), exceptions: make(map[int]int64)}
}

func (c *counters) command(i int) { c.commands[i].Add(1) }

func (c *counters) reply(cl replyClass) { c.classes[cl].Add(1) }

// outcome counts the reply of one executed API request.
func (c *counters) outcome(o outcome) {
	c.classes[o.class].Add(1)
	if o.class != classException {
		return
	}
	c.excMu.Lock()
	c.exceptions[o.code]++
	c.excMu.Unlock()
}

// connOpened and connClosed track connections (or in-memory requests).
func (c *counters) connOpened() {
	n := c.open.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (c *counters) connClosed() { c.open.Add(-1) }

// request records one API request in the rate series.
func (c *counters) request() {
	b := int64(c.now().Sub(c.start) / RateBucket)
	if b < 0 {
		b = 0
	}
	if b >= maxRateBuckets {
		return
	}
	c.rateMu.Lock()
	if int(b) >= len(c.buckets) {
		if int(b) < cap(c.buckets) {
			c.buckets = c.buckets[:b+1]
		} else {
			nb := make([]int64, b+1, max(2*cap(c.buckets), int(b)+64))
			copy(nb, c.buckets)
			c.buckets = nb
		}
	}
	c.buckets[b]++
	c.rateMu.Unlock()
}

// snapshot fills the counter part of a Counters.
func (c *counters) snapshot(out *Counters) {
	out.Start = c.start
	out.Requests = make(map[string]int64, len(commandNames))
	for i, n := range commandNames {
		if v := c.commands[i].Load(); v != 0 {
			out.Requests[n] = v
		}
	}
	out.Replies = make(map[string]int64, numClasses)
	for i, n := range classNames {
		if v := c.classes[i].Load(); v != 0 {
			out.Replies[n] = v
		}
	}
	c.excMu.Lock()
	out.Exceptions = make(map[string]int64, len(c.exceptions))
	for code, v := range c.exceptions {
		out.Exceptions[strconv.Itoa(code)] = v
	}
	c.excMu.Unlock()
	out.HealthChecks = c.health.Load()
	out.OpenConns = c.open.Load()
	out.PeakConns = c.peak.Load()
	out.RateBucketMillis = RateBucket.Milliseconds()
	c.rateMu.Lock()
	out.RateSeries = append([]int64(nil), c.buckets...)
	c.rateMu.Unlock()
	if out.RateSeries == nil {
		out.RateSeries = []int64{}
	}
	out.MessagesStored = c.msgStored.Load()
	out.MessagesDelivered = c.msgDelivered.Load()
	out.MessagesRedelivered = c.msgRedelivered.Load()
	out.MessagesAcked = c.msgAcked.Load()
	out.MessagesExpired = c.msgExpired.Load()
	out.MessagesExpiredUnacked = c.msgExpiredUnacked.Load()
	out.DuplicateRequestIDs = c.duplicates.Load()
	out.InvitationsStored = c.invitations.Load()
	out.CommentsStored = c.comments.Load()
	out.UsersRegistered = c.registered.Load()
	out.Logins = c.logins.Load()
	out.DevicesRegistered = c.devices.Load()
	out.PasswordsChanged = c.passwords.Load()
	out.TemporaryPasswordsSent = c.tempPasswords.Load()
	out.KeyRepositoryChanges = c.keyRepo.Load()
}
