package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// timerSlack returns the process's timer slack: the lowest of its
// threads' (/proc/TID/timerslack_ns for each thread of /proc/self/task).
// A thread inherits its slack from the thread that starts it.
func timerSlack() (time.Duration, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, err
	}
	lowest := time.Duration(-1)
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + t.Name() + "/timerslack_ns")
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) || errors.Is(err, fs.ErrPermission) {
			// The thread has ended, or it is not the calling thread and
			// the process lacks CAP_SYS_NICE: the others are the measure.
			continue
		}
		if err != nil {
			return 0, err
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("timer slack of thread %s: %w", t.Name(), err)
		}
		if d := time.Duration(ns); lowest < 0 || d < lowest {
			lowest = d
		}
	}
	if lowest < 0 {
		return 0, errors.New("no thread's timer slack could be read")
	}
	return lowest, nil
}

// slackExecEnv marks the environment of the program executed again by
// applyTimerSlack, so that it never executes itself a second time.
const slackExecEnv = "LOADGEN_TIMER_SLACK_EXECUTED"

// applyTimerSlack gives the whole process the timer slack d (--timer-slack):
// the kernel may then let a timer fire up to d late, to serve several with
// one wake-up of the process. A thread inherits its slack from the thread
// that starts it, and the Go runtime starts its threads, the scheduler's
// monitor among them, before main runs: so the process sets the slack on
// its thread and executes itself again, with the same arguments and
// environment (slackExecEnv added), and every thread of the new image has
// it. It returns nil at once when every thread has d, and does not return
// when it executes; an error says why it could not (the run then reports
// the slack its threads have).
func applyTimerSlack(d time.Duration) error {
	cur, err := timerSlack()
	if err != nil {
		return fmt.Errorf("--timer-slack: %w", err)
	}
	if cur == d {
		return nil
	}
	if testing.Testing() {
		// os.Args are the test binary's: executing it again would run
		// the tests again in place of this one.
		return fmt.Errorf("--timer-slack: a test does not execute itself again (the threads keep %s)", cur)
	}
	if os.Getenv(slackExecEnv) != "" {
		return fmt.Errorf("--timer-slack: the threads have %s after the program executed itself with %s", cur, d)
	}
	runtime.LockOSThread() // the slack is the thread's: exec from that one
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d.Nanoseconds()), 0, 0, 0); err != nil {
		return fmt.Errorf("--timer-slack: prctl: %w", err)
	}
	err = syscall.Exec("/proc/self/exe", os.Args, append(os.Environ(), slackExecEnv+"=1"))
	return fmt.Errorf("--timer-slack: executing the program again with the slack: %w", err)
}

// timerSlackSupported reports whether --timer-slack can be honoured here.
const timerSlackSupported = true
