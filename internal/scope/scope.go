package scope

import (
	"context"
	"sync"
	"time"
)

// Scope is a context that ends when Cancel is called or its parent ends.
// Deadline and Value are the parent's. Its zero value is not usable: make
// one with New.
type Scope struct {
	parent context.Context
	done   chan struct{}
	unhook func() bool // stops the parent's AfterFunc; nil without one

	mu       sync.Mutex
	err      error
	canceled bool    // ended by Cancel, not by the parent
	head     *waiter // the functions to run when the scope ends
}

// waiter is one function registered with AfterFunc, in a doubly linked
// list: registering and stopping allocate nothing that outlives the
// registration.
type waiter struct {
	f          func()
	prev, next *waiter
	gone       bool // run or stopped: no longer in the list
}

// New returns a Scope that ends with parent or when Cancel is called.
func New(parent context.Context) *Scope {
	s := &Scope{parent: parent, done: make(chan struct{})}
	if parent.Done() != nil {
		// Under the lock: when parent has ended, end runs at once on
		// another goroutine and reads unhook.
		s.mu.Lock()
		s.unhook = context.AfterFunc(parent, func() { s.end(parent.Err(), false) })
		s.mu.Unlock()
		if err := parent.Err(); err != nil {
			s.end(err, false) // at once, not when the AfterFunc's goroutine runs
		}
	}
	return s
}

// Cancel ends the scope with context.Canceled, unless it has ended.
func (s *Scope) Cancel() { s.end(context.Canceled, true) }

// Deadline returns the parent's deadline.
func (s *Scope) Deadline() (time.Time, bool) { return s.parent.Deadline() }

// Done is closed when the scope ends.
func (s *Scope) Done() <-chan struct{} { return s.done }

// Err is nil until the scope ends, then context.Canceled (Cancel) or the
// parent's error. A scope whose parent has ended ends when Err is asked,
// if the parent's AfterFunc has not ended it yet (it runs on a goroutine
// of its own), so that Err is never nil after the parent's is not.
func (s *Scope) Err() error {
	// Without the lock: contexts ask Err on every call, and a receive
	// from an open channel that nothing was sent on takes none. err is
	// set before done is closed, and the close is seen after it.
	select {
	case <-s.done:
		return s.err
	default:
	}
	if s.parent.Done() == nil { // a parent that never ends (Background)
		return nil
	}
	if err := s.parent.Err(); err != nil {
		s.end(err, false)
		return s.Err()
	}
	return nil
}

// Value returns the parent's value for key, but for the lookup of the
// context package's own cancellation state (an *int key that finds a
// context) once Cancel has ended the scope: it would find an ancestor
// that has not ended, or that ends later with a cause of its own, and
// context.Cause of the scope would be that ancestor's. Without it, Cause
// falls back to Err. A scope its parent ended passes the lookup on, so
// that Cause is the parent's cause, as for a WithCancel context.
func (s *Scope) Value(key any) any {
	v := s.parent.Value(key)
	if _, ok := key.(*int); ok {
		if _, ok := v.(context.Context); ok && s.Err() != nil && s.endedByCancel() {
			return nil
		}
	}
	return v
}

// endedByCancel reports whether Cancel, not the parent, ended the scope.
func (s *Scope) endedByCancel() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceled
}

// AfterFunc arranges for f to run when the scope ends; if it has ended, f
// runs at once on a goroutine of its own. Stop unregisters f: it returns
// true if it did, false if f has run or was stopped before. The context
// package calls it for the contexts derived from the scope, which is how
// they learn of its end without a map of children in the scope.
func (s *Scope) AfterFunc(f func()) (stop func() bool) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		// The context package registers while it holds the child's
		// lock, which f takes: it must not run on this goroutine.
		go f()
		return func() bool { return false }
	}
	w := &waiter{f: f, next: s.head}
	if s.head != nil {
		s.head.prev = w
	}
	s.head = w
	s.mu.Unlock()
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if w.gone {
			return false
		}
		w.gone = true
		if w.prev != nil {
			w.prev.next = w.next
		} else {
			s.head = w.next
		}
		if w.next != nil {
			w.next.prev = w.prev
		}
		w.prev, w.next = nil, nil
		return true
	}
}

// end ends the scope with err and runs the registered functions, once.
func (s *Scope) end(err error, canceled bool) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err, s.canceled = err, canceled
	list := s.head
	s.head = nil
	for w := list; w != nil; w = w.next {
		w.gone = true
	}
	close(s.done)
	unhook := s.unhook
	s.mu.Unlock()
	if unhook != nil {
		unhook()
	}
	for w := list; w != nil; {
		next := w.next
		w.prev, w.next = nil, nil
		w.f()
		w = next
	}
}
