package main

import (
	"context"
	"syscall"
	"time"
)

const (
	prSetTimerSlack = 29                    // PR_SET_TIMERSLACK (Linux prctl)
	timerSlackNs    = 10_000                // wake at most 10 µs late
	maxNap          = 50 * time.Millisecond // re-check ctx this often
)

// setTimerSlack lowers the calling thread's timer slack (default 50 µs).
// Call it on a locked OS thread; failure only costs precision.
func setTimerSlack(ns int) {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, uintptr(ns), 0)
}

// preciseSleepUntil blocks the calling thread in nanosleep until unix-ns
// time t, checking ctx at least every maxNap. It reports whether t was
// reached.
func preciseSleepUntil(ctx context.Context, t int64) bool {
	for {
		if ctx.Err() != nil {
			return false
		}
		d := time.Duration(t - time.Now().UnixNano())
		if d <= 0 {
			return true
		}
		ts := syscall.NsecToTimespec(int64(min(d, maxNap)))
		_ = syscall.Nanosleep(&ts, nil)
	}
}
