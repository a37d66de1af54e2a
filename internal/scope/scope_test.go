package scope

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestChildrenEndWithTheScope: contexts derived from a scope end when it
// is canceled, with context.Canceled, and a WithTimeoutCause child keeps
// its own cause when its deadline comes first.
func TestChildrenEndWithTheScope(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(context.Background())
		child, cancel := context.WithCancel(s)
		defer cancel()
		errLate := errors.New("late")
		timed, cancel2 := context.WithTimeoutCause(s, time.Second, errLate)
		defer cancel2()
		time.Sleep(2 * time.Second)
		if !errors.Is(context.Cause(timed), errLate) {
			t.Fatalf("timed child's cause %v, want %v", context.Cause(timed), errLate)
		}
		if child.Err() != nil {
			t.Fatalf("child ended before the scope: %v", child.Err())
		}
		s.Cancel()
		<-child.Done()
		if !errors.Is(child.Err(), context.Canceled) || !errors.Is(s.Err(), context.Canceled) {
			t.Fatalf("child %v, scope %v: want context.Canceled", child.Err(), s.Err())
		}
	})
}

// TestScopeEndsWithItsParent: a scope ends with its parent and has the
// parent's error; Deadline and Value are the parent's.
func TestScopeEndsWithItsParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		parent, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, "v"), time.Minute)
		defer cancel()
		s := New(parent)
		if s.Value(key{}) != "v" {
			t.Fatalf("Value = %v, want the parent's", s.Value(key{}))
		}
		if d, ok := s.Deadline(); !ok || !d.Equal(time.Now().Add(time.Minute)) {
			t.Fatalf("Deadline = %v %v, want the parent's", d, ok)
		}
		var ran bool
		context.AfterFunc(s, func() { ran = true })
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if !errors.Is(s.Err(), context.DeadlineExceeded) || !ran {
			t.Fatalf("after the parent's deadline: scope %v, AfterFunc ran %v", s.Err(), ran)
		}
	})
}

// TestAlreadyEndedParent: a scope of an ended parent is ended.
func TestAlreadyEndedParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	cancel()
	s := New(parent)
	<-s.Done()
	child, cancel2 := context.WithCancel(s)
	defer cancel2()
	<-child.Done()
	if !errors.Is(child.Err(), context.Canceled) {
		t.Fatalf("child of an ended scope: %v", child.Err())
	}
}

// TestStop: a stopped AfterFunc does not run and stop reports it once;
// after the end stop reports false.
func TestStop(t *testing.T) {
	s := New(context.Background())
	var n int
	stops := make([]func() bool, 5)
	for i := range stops {
		stops[i] = s.AfterFunc(func() { n++ })
	}
	if !stops[2]() || stops[2]() {
		t.Fatal("stop: want true once, then false")
	}
	if !stops[0]() || !stops[4]() {
		t.Fatal("stopping the head and the tail failed")
	}
	s.Cancel()
	if n != 2 {
		t.Fatalf("%d functions ran, want the 2 not stopped", n)
	}
	if stops[1]() {
		t.Fatal("stop after the end reported true")
	}
	s.Cancel() // a second Cancel does nothing
	if n != 2 {
		t.Fatalf("a second Cancel ran functions again: %d", n)
	}
}

// TestNoChildLeftRegistered: ended children leave the scope's list empty,
// which is the point of the package.
func TestNoChildLeftRegistered(t *testing.T) {
	s := New(context.Background())
	for range 100 {
		ctx, cancel := context.WithCancel(s)
		stop := context.AfterFunc(ctx, func() {})
		stop()
		cancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head != nil {
		t.Fatal("ended children are still registered")
	}
}

// TestConcurrentCancelAndDerive runs derivations, stops and the end side
// by side (for the race detector): every child ends.
func TestConcurrentCancelAndDerive(t *testing.T) {
	s := New(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				ctx, cancel := context.WithCancel(s)
				if s.Err() != nil {
					<-ctx.Done()
				}
				cancel()
			}
		})
	}
	wg.Go(s.Cancel)
	wg.Wait()
	ctx, cancel := context.WithCancel(s)
	defer cancel()
	<-ctx.Done()
}

// TestCauseOfAnEndedScope: context.Cause of a canceled scope is
// context.Canceled even while its parent lives, as for a WithCancel
// context, and a scope reports its parent's end as soon as Err is asked.
func TestCauseOfAnEndedScope(t *testing.T) {
	parent, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	s := New(parent)
	if context.Cause(s) != nil {
		t.Fatalf("Cause of a live scope = %v, want nil", context.Cause(s))
	}
	s.Cancel()
	if got := context.Cause(s); !errors.Is(got, context.Canceled) {
		t.Fatalf("Cause of a canceled scope under a live parent = %v, want context.Canceled", got)
	}

	s2 := New(parent)
	cancel(errors.New("parent's cause"))
	if !errors.Is(s2.Err(), context.Canceled) {
		t.Fatalf("Err right after the parent's cancel = %v, want context.Canceled", s2.Err())
	}
	select {
	case <-s2.Done():
	default:
		t.Fatal("Err reported the end but Done is open")
	}
}

// TestCauseOfTheParent: a scope its parent ended has the parent's cause,
// and so do its children, as under a WithCancel context; a scope created
// under an ended parent is ended when New returns.
func TestCauseOfTheParent(t *testing.T) {
	why := errors.New("the parent's cause")
	parent, cancel := context.WithCancelCause(context.Background())
	s := New(parent)
	child, cancelChild := context.WithCancel(s)
	defer cancelChild()
	cancel(why)
	<-child.Done()
	if !errors.Is(context.Cause(s), why) || !errors.Is(context.Cause(child), why) {
		t.Fatalf("Cause of the scope %v, of its child %v, want %v", context.Cause(s), context.Cause(child), why)
	}
	late := New(parent)
	select {
	case <-late.Done():
	default:
		t.Fatal("a scope of an ended parent is not ended when New returns")
	}
}
