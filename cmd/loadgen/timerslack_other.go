//go:build !linux

package main

import (
	"errors"
	"time"
)

// timerSlack is not known outside Linux.
func timerSlack() (time.Duration, error) { return 0, errors.ErrUnsupported }

// applyTimerSlack is not implemented outside Linux; configure refuses the
// flag there.
func applyTimerSlack(time.Duration) error { return errors.ErrUnsupported }

// timerSlackSupported reports whether --timer-slack can be honoured here.
const timerSlackSupported = false
