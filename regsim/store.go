package regsim

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// UserStatus is the account state of a user.
type UserStatus int

// Account states. A user who is not active cannot log in (-30102, -30103).
const (
	UserActive UserStatus = iota
	UserNotActivated
	UserDisabled
)

// String returns "active", "not-activated" or "disabled".
func (s UserStatus) String() string {
	switch s {
	case UserActive:
		return "active"
	case UserNotActivated:
		return "not-activated"
	case UserDisabled:
		return "disabled"
	}
	return "UserStatus(" + strconv.Itoa(int(s)) + ")"
}

// Store errors of the Go helpers (AddUser, SetUserStatus).
var (
	// ErrUserExists reports that a username is taken.
	ErrUserExists = errors.New("regsim: username taken")
	// ErrUnknownUser reports that a username does not exist.
	ErrUnknownUser = errors.New("regsim: unknown user")
)

type user struct {
	id       int64
	name     string
	email    string
	password string
	status   UserStatus
	keyRepo  bool
	devices  []*device
	// msgs are the stored messages addressed to this user, in id order
	// (which is storage order); expired ones are removed.
	msgs []*message
}

type device struct {
	id        int64
	owner     *user
	name      string
	publicKey string
	// ackedBelow: every message with an id below it is acknowledged by
	// this device (or gone). acked holds acknowledged ids at or above it.
	ackedBelow int64
	acked      map[int64]struct{}
	// maxDelivered is the highest message id delivered to this device.
	maxDelivered int64
}

type message struct {
	id        int64
	to        *user
	w         wire.Message
	size      int // bytes of its <message> element in a reply
	expires   time.Time
	acks      int // devices that acknowledged it
	requestID string
}

type session struct {
	token   string
	user    *user
	expires time.Time
}

type idemKey struct {
	user int64  // the acting user; 0 for registeruser
	name string // the username for registeruser
	id   string // the requestid
}

type idemEntry struct {
	key     idemKey
	reply   []byte // the encoded first reply
	expires time.Time
}

// store is the state all instances share, as the Registration Servers of
// the seed documents share one MySQL database. Every method is safe for
// concurrent use.
type store struct {
	now           func() time.Time
	storagePeriod time.Duration
	sessionTTL    time.Duration
	ctr           *counters

	defaultPoll  time.Duration
	pollInterval atomic.Int64 // nanoseconds
	dbDown       atomic.Bool

	mu                                                         sync.Mutex
	users                                                      map[string]*user    // guarded by mu
	sessions                                                   map[string]*session // guarded by mu
	devices                                                    map[int64]*device   // guarded by mu
	idem                                                       map[idemKey]*idemEntry
	sessionQ                                                   fifo[*session]   // guarded by mu; in creation order
	idemQ                                                      fifo[*idemEntry] // guarded by mu; in creation order
	msgQ                                                       fifo[*message]   // guarded by mu; in storage order
	nextUser, nextDevice, nextMsg, nextInvitation, nextComment int64

	emptyMessagesLen int // length of an encoded reply with an empty <messages>
}

func newStore(cfg *Config, ctr *counters) *store {
	s := &store{
		now:           cfg.Now,
		storagePeriod: cfg.StoragePeriod,
		sessionTTL:    cfg.SessionTTL,
		ctr:           ctr,
		defaultPoll:   cfg.PollInterval,
		users:         make(map[string]*user, cfg.Users),
		sessions:      make(map[string]*session),
		devices:       make(map[int64]*device),
		idem:          make(map[idemKey]*idemEntry),
	}
	s.pollInterval.Store(int64(cfg.PollInterval))
	empty, _ := wire.EncodeReply(&wire.Reply{Messages: []wire.Message{}})
	s.emptyMessagesLen = len(empty)
	for i := range cfg.Users {
		name := "user" + strconv.Itoa(i)
		s.addUserLocked(name, name+"@regsim.test", cfg.Password)
	}
	return s
}

// pollSeconds is the <pollinterval> value: whole seconds, rounded up.
func (s *store) pollSeconds() int64 {
	d := time.Duration(s.pollInterval.Load())
	return int64((d + time.Second - 1) / time.Second)
}

func (s *store) setPollInterval(d time.Duration) {
	if d <= 0 {
		d = s.defaultPoll
	}
	s.pollInterval.Store(int64(d))
}

// addUserLocked adds a user; the caller holds mu or owns s exclusively.
func (s *store) addUserLocked(name, email, password string) *user {
	s.nextUser++
	u := &user{id: s.nextUser, name: name, email: email, password: password}
	s.users[name] = u
	return u
}

func (s *store) addUser(name, password string) error {
	if name == "" {
		return fmt.Errorf("regsim: add user: empty username")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[name]; ok {
		return fmt.Errorf("regsim: add user %q: %w", name, ErrUserExists)
	}
	s.addUserLocked(name, name+"@regsim.test", password)
	return nil
}

func (s *store) setUserStatus(name string, st UserStatus) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok {
		return fmt.Errorf("regsim: set status of %q: %w", name, ErrUnknownUser)
	}
	u.status = st
	return nil
}

// expireLocked removes sessions, idempotency records and messages whose time
// is up. Queues are in creation order, so this is O(1) when nothing expires.
// The caller holds mu.
func (s *store) expireLocked(now time.Time) {
	for s.sessionQ.len() > 0 {
		se := s.sessionQ.front()
		if se.expires.After(now) {
			break
		}
		if s.sessions[se.token] == se {
			delete(s.sessions, se.token)
		}
		s.sessionQ.pop()
	}
	for s.idemQ.len() > 0 {
		e := s.idemQ.front()
		if e.expires.After(now) {
			break
		}
		if s.idem[e.key] == e {
			delete(s.idem, e.key)
		}
		s.idemQ.pop()
	}
	for s.msgQ.len() > 0 {
		m := s.msgQ.front()
		if m.expires.After(now) {
			break
		}
		s.removeMessageLocked(m)
		s.msgQ.pop()
	}
}

// searchMsgs returns the index of the first message with an id >= id.
func searchMsgs(msgs []*message, id int64) int {
	return sort.Search(len(msgs), func(i int) bool { return msgs[i].id >= id })
}

func (s *store) removeMessageLocked(m *message) {
	u := m.to
	i := searchMsgs(u.msgs, m.id)
	if i < len(u.msgs) && u.msgs[i] == m {
		if i == 0 {
			u.msgs[0] = nil
			u.msgs = u.msgs[1:]
		} else {
			u.msgs = append(u.msgs[:i], u.msgs[i+1:]...)
			u.msgs[len(u.msgs) : len(u.msgs)+1][0] = nil
		}
	}
	for _, d := range u.devices {
		delete(d.acked, m.id)
	}
	s.ctr.msgExpired.Add(1)
	if m.acks == 0 {
		s.ctr.msgExpiredUnacked.Add(1)
	}
}

// newToken returns a fresh random session token.
func newToken() string { return rand.Text() }

// messages returns the stored, unexpired messages addressed to name.
func (s *store) messages(name string) []wire.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	u, ok := s.users[name]
	if !ok {
		return nil
	}
	out := make([]wire.Message, 0, len(u.msgs))
	for _, m := range u.msgs {
		out = append(out, m.w)
	}
	return out
}

// appliedRequests counts the idempotency records of requestID (one per
// acting user that applied a command with it).
func (s *store) appliedRequests(requestID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	n := 0
	for k := range s.idem {
		if k.id == requestID {
			n++
		}
	}
	return n
}

// gauges fills the store's gauges of a Counters.
func (s *store) gauges(out *Counters) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	out.Users = int64(len(s.users))
	out.Sessions = int64(len(s.sessions))
	out.Devices = int64(len(s.devices))
	out.MessagesPending = int64(s.msgQ.len())
}
