package loadgen

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pause waits d on the clock of the test (fake inside a synctest bubble).
func pause(d time.Duration) { _ = SystemClock().Sleep(context.Background(), d) }

func mustPacer(t testing.TB, cfg PacerConfig) *Pacer {
	t.Helper()
	p, err := NewPacer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPacerKeepsRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := mustPacer(t, PacerConfig{Rate: 100})
		for i := range 300 {
			s, err := p.Next(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			want := start.Add(time.Duration(i) * 10 * time.Millisecond)
			if s.Seq != int64(i) || !s.Intended.Equal(want) || s.Lag != 0 || !time.Now().Equal(want) {
				t.Fatalf("send %d = %+v at %s, want intended and handed out at %s", i, s, time.Since(start), want.Sub(start))
			}
		}
		st := p.Stats(start.Add(3 * time.Second))
		if st != (PacerStats{Due: 300, Sent: 300}) {
			t.Errorf("stats = %+v", st)
		}
	})
}

// TestPacerHoldsScheduleWhenRepliesAreSlow: a caller that takes 50 ms per
// send gets the overdue sends at once, with their intended times; the sends
// it could not take in time are counted, not dropped.
func TestPacerHoldsScheduleWhenRepliesAreSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		rec := newTestRecorder(t, start)
		p := mustPacer(t, PacerConfig{Rate: 100, Recorder: rec})
		// The run ends between the caller's wake-ups at 950 ms and 1 s.
		ctx, cancel := context.WithTimeout(t.Context(), 990*time.Millisecond)
		defer cancel()
		var got []Send
		for {
			s, err := p.Next(ctx)
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatal(err)
				}
				break
			}
			got = append(got, s)
			pause(50 * time.Millisecond)
		}
		if len(got) != 20 {
			t.Fatalf("%d sends in 1 s at 50 ms each, want 20", len(got))
		}
		for i, s := range got {
			wantLag := time.Duration(i) * 40 * time.Millisecond
			if !s.Intended.Equal(start.Add(time.Duration(i)*10*time.Millisecond)) || s.Lag != wantLag {
				t.Errorf("send %d intended %s lag %s, want %s and %s", i, s.Intended.Sub(start), s.Lag, time.Duration(i)*10*time.Millisecond, wantLag)
			}
		}
		end := start.Add(time.Second)
		st := p.Stats(end)
		// Sends 0..19 were handed out (the first on time, the rest 40 ms
		// or more late); 20..99 were due by 1 s and no one took them.
		want := PacerStats{Due: 100, Sent: 20, Late: 19, Missed: 80, MaxLag: 19 * 40 * time.Millisecond}
		if st != want {
			t.Errorf("stats = %+v, want %+v", st, want)
		}
		rep := mustReport(t, rec, end)
		if s := rep.Schedule; s.Offered != 100 || s.Sent != 20 || s.Late != 19 || s.Missed != 80 {
			t.Errorf("report schedule = %+v", s)
		}
	})
}

func TestPacerWorkersShareSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := mustPacer(t, PacerConfig{Rate: 1000, Tolerance: time.Millisecond})
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second-time.Microsecond)
		defer cancel()
		var mu sync.Mutex
		seen := make(map[int64]bool)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					s, err := p.Next(ctx)
					if err != nil {
						return
					}
					mu.Lock()
					seen[s.Seq] = true
					mu.Unlock()
					pause(5 * time.Millisecond) // 8 workers × 200/s each: enough
				}
			})
		}
		wg.Wait()
		if len(seen) != 2000 {
			t.Errorf("%d distinct sends, want 2000", len(seen))
		}
		for i := range int64(2000) {
			if !seen[i] {
				t.Fatalf("send %d never handed out", i)
			}
		}
		if st := p.Stats(start.Add(2*time.Second - time.Microsecond)); st.Late != 0 || st.Missed != 0 || st.Sent != 2000 || st.Due != 2000 {
			t.Errorf("stats = %+v", st)
		}
	})
}

func TestPacerRampUp(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p := mustPacer(t, PacerConfig{Rate: 100, RampUp: 2 * time.Second, Start: start})
	// During the ramp, the sends by t are 100·t²/4: 25 by 1 s, 100 by 2 s,
	// then 100 a second.
	for _, c := range []struct {
		at   time.Duration
		want int64
	}{{0, 0}, {time.Nanosecond, 1}, {time.Second, 25}, {2 * time.Second, 100}, {3 * time.Second, 200}, {10 * time.Second, 900}} {
		if got := p.Due(start.Add(c.at)); got != c.want {
			t.Errorf("Due(%s) = %d, want %d", c.at, got, c.want)
		}
	}
	if got := p.Intended(25).Sub(start); got != time.Second {
		t.Errorf("send 25 at %s, want 1s", got)
	}
	prev := time.Duration(-1)
	for n := range int64(1000) {
		at := p.Intended(n)
		if d := at.Sub(start); d <= prev {
			t.Fatalf("send %d at %s, not after send %d at %s", n, d, n-1, prev)
		} else {
			prev = d
		}
		if got := p.Due(at); got != n {
			t.Fatalf("Due(Intended(%d)) = %d", n, got)
		}
		if got := p.Due(at.Add(time.Nanosecond)); got != n+1 {
			t.Fatalf("Due(Intended(%d)+1ns) = %d", n, got)
		}
	}
	// The gap between sends shrinks during the ramp and is 10 ms after it.
	if g1, g2 := p.Intended(2).Sub(p.Intended(1)), p.Intended(500).Sub(p.Intended(499)); g1 <= g2 || g2 != 10*time.Millisecond {
		t.Errorf("gaps %s early, %s after the ramp", g1, g2)
	}
}

func TestPacerCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := mustPacer(t, PacerConfig{Rate: 1})
		if _, err := p.Next(t.Context()); err != nil { // send 0, at once
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := p.Next(ctx) // send 1, due in 1 s
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Next = %v, want context.Canceled", err)
		}
		if _, err := p.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Next on a done context = %v", err)
		}
		if st := p.Stats(start.Add(time.Second)); st != (PacerStats{Due: 1, Sent: 1}) {
			t.Errorf("before send 1 is due: %+v", st)
		}
		if st := p.Stats(start.Add(1500 * time.Millisecond)); st != (PacerStats{Due: 2, Sent: 1, Missed: 1}) {
			t.Errorf("once send 1 is due: %+v", st)
		}
		// The next caller gets send 2, not the abandoned send 1.
		s, err := p.Next(t.Context())
		if err != nil || s.Seq != 2 || !s.Intended.Equal(start.Add(2*time.Second)) {
			t.Errorf("after the cancel: %+v, %v", s, err)
		}
	})
}

// fakeClock is a virtual clock: Sleep advances it at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

func TestPacerUsesInjectedClock(t *testing.T) {
	clock := &fakeClock{now: t0}
	p := mustPacer(t, PacerConfig{Rate: 1000, Clock: clock})
	for range 1000 {
		if _, err := p.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := clock.Now().Sub(t0); got != 999*time.Millisecond {
		t.Errorf("clock at %s after 1000 sends at 1000/s, want 999ms", got)
	}
	// The clock jumps ahead: the overdue sends come at once, late.
	clock.Sleep(context.Background(), time.Second)
	s, err := p.Next(context.Background())
	if err != nil || s.Seq != 1000 || s.Lag != time.Second-time.Millisecond {
		t.Errorf("after a jump: %+v, %v", s, err)
	}
	if st := p.Stats(clock.Now()); st.Late != 1 || st.MaxLag != 999*time.Millisecond {
		t.Errorf("stats = %+v", st)
	}
}

func TestNewPacerRejectsBadConfig(t *testing.T) {
	for _, cfg := range []PacerConfig{
		{}, {Rate: -1}, {Rate: math.NaN()}, {Rate: math.Inf(1)},
		{Rate: 1, RampUp: -time.Second}, {Rate: 1, Tolerance: -time.Second},
	} {
		if _, err := NewPacer(cfg); err == nil {
			t.Errorf("NewPacer(%+v) accepted", cfg)
		}
	}
}

// TestStalledServerShowsInPercentiles is the coordinated-omission test: at
// a fixed open-model rate of 100/s for 20 s, a server that holds every
// request intended in the first second of each 5 s until that second ends
// must show in the percentiles (p99 ≥ 900 ms), and every offered send must
// be recorded. For contrast, a closed-loop sender that waits for each reply
// and measures from its actual send time hides the stall.
func TestStalledServerShowsInPercentiles(t *testing.T) {
	const rate, run = 100, 20 * time.Second
	// reply returns when the stalled server answers a request arriving at
	// offset el from the start.
	reply := func(el time.Duration) time.Duration {
		if el%(5*time.Second) < time.Second {
			return el.Truncate(5*time.Second) + time.Second
		}
		return el + time.Millisecond
	}

	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		end := start.Add(run - 5*time.Millisecond) // between two sends
		rec := newTestRecorder(t, start)
		p := mustPacer(t, PacerConfig{Rate: rate, Start: start, Recorder: rec})
		ctx, cancel := context.WithDeadline(t.Context(), end)
		defer cancel()
		var wg sync.WaitGroup
		for {
			s, err := p.Next(ctx)
			if err != nil {
				break
			}
			wg.Go(func() {
				pause(time.Until(start.Add(reply(s.Intended.Sub(start)))))
				rec.Record("op", s.Intended, time.Now(), Outcome{})
			})
		}
		wg.Wait()
		rep := mustReport(t, rec, end)
		if rep.Requests != rate*20 || rep.Schedule.Offered != rate*20 || rep.Schedule.Sent != rate*20 ||
			rep.Schedule.Missed != 0 || rep.Schedule.Late != 0 {
			t.Errorf("%d requests recorded, schedule %+v: want all %d offered sent on time and recorded",
				rep.Requests, rep.Schedule, rate*20)
		}
		if p99 := time.Duration(rep.Total.P99); p99 < 900*time.Millisecond {
			t.Errorf("p99 = %s, want ≥ 900ms: the stall is hidden", p99)
		}
		if p50 := time.Duration(rep.Total.P50); !near(p50, time.Millisecond) {
			t.Errorf("p50 = %s, want 1ms", p50)
		}
		// The per-second series shows the stall where it happened.
		if p := rep.Series.Points[5]; time.Duration(p.P99) < 900*time.Millisecond || time.Duration(rep.Series.Points[6].P99) > 2*time.Millisecond {
			t.Errorf("seconds 5 and 6: p99 %s and %s", p.P99, rep.Series.Points[6].P99)
		}
	})

	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		rec := newTestRecorder(t, start)
		next := start
		for next.Before(start.Add(run)) {
			pause(time.Until(next))
			sent := time.Now()
			pause(time.Until(start.Add(reply(sent.Sub(start)))))
			rec.Record("op", sent, time.Now(), Outcome{}) // from the actual send: coordinated omission
			// The next send waits for this reply: sends due meanwhile are
			// never made.
			next = next.Add(time.Second / rate)
			if now := time.Now(); next.Before(now) {
				next = now
			}
		}
		rep := mustReport(t, rec, start.Add(run))
		if p99 := time.Duration(rep.Total.P99); p99 >= 900*time.Millisecond {
			t.Errorf("closed loop p99 = %s: the contrast case does not hide the stall", p99)
		}
		if rep.Requests >= rate*20 {
			t.Errorf("closed loop sent %d, want fewer than the %d offered", rep.Requests, rate*20)
		}
	})
}

// BenchmarkPacerNext is the pacer's own cost per send (the virtual clock
// never sleeps), with the lag recorded into a Recorder.
func BenchmarkPacerNext(b *testing.B) {
	rec, err := NewRecorder(RecorderConfig{Start: t0})
	if err != nil {
		b.Fatal(err)
	}
	p := mustPacer(b, PacerConfig{Rate: 1e6, Clock: &fakeClock{now: t0}, Recorder: rec})
	b.ReportAllocs()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	for b.Loop() {
		if _, err := p.Next(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPacerStopEndsTheSchedule: once the run stops offering load, the sends
// after the stop are not due, so a drain phase does not count them missed.
func TestPacerStopEndsTheSchedule(t *testing.T) {
	clock := &fakeClock{now: t0}
	p := mustPacer(t, PacerConfig{Rate: 10, Clock: clock})
	for range 20 { // sends 0…19, intended in [0, 2s)
		if _, err := p.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	p.Stop(t0.Add(2 * time.Second))
	clock.Sleep(context.Background(), time.Minute)
	if st := p.Stats(clock.Now()); st.Due != 20 || st.Missed != 0 || st.Sent != 20 {
		t.Errorf("after Stop: %+v, want 20 due, 20 sent, 0 missed", st)
	}
	// Without Stop the same minute would count as missed.
	q := mustPacer(t, PacerConfig{Rate: 10, Clock: clock, Start: t0})
	if st := q.Stats(clock.Now()); st.Missed == 0 {
		t.Errorf("without Stop: %+v, want sends missed", st)
	}
}

// TestPacerStopDuringNext: Stop called while Next waits for a send
// intended after the stop time must not hand that send out: Next's contract
// is that sends due at or after Stop's time return ErrStopped, and Stats
// must never report more sent than due.
func TestPacerStopDuringNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := mustPacer(t, PacerConfig{Rate: 1, Start: start})   // sends at 0 s, 1 s, 2 s, …
		if _, err := p.Next(context.Background()); err != nil { // send 0, at once
			t.Fatal(err)
		}
		type result struct {
			s   Send
			err error
		}
		got := make(chan result, 1)
		go func() { // waits for send 1, due at 1 s
			s, err := p.Next(context.Background())
			got <- result{s, err}
		}()
		time.Sleep(500 * time.Millisecond)
		p.Stop(time.Now()) // the run stops offering load at 0.5 s
		r := <-got
		if !errors.Is(r.err, ErrStopped) {
			t.Errorf("Next after Stop(0.5 s) handed out send %d intended at %s: err %v, want ErrStopped",
				r.s.Seq, r.s.Intended.Sub(start), r.err)
		}
		if st := p.Stats(time.Now()); st.Sent > st.Due {
			t.Errorf("Stats %+v: more sent than due", st)
		}
	})
}
