package main

import (
	"context"
	"math"
	"time"
)

// Schedule is an open-loop send schedule for one publisher: message i is due
// at Start + Offset + i*Period (unix ns), for i in [0, Count). Send times
// never depend on how long earlier sends took, so a slow server cannot hide
// its latency by slowing the generator down (no coordinated omission).
type Schedule struct {
	Start  int64   `json:"start"`
	Offset int64   `json:"offset"`
	Period float64 `json:"period"` // ns between two sends of this publisher
	Count  int64   `json:"count"`
}

// NewSchedule builds the schedule of publisher j out of n publishers that
// share msgRate messages/s for span, starting at start. Publishers are
// staggered by Period/n so that their sends interleave evenly.
func NewSchedule(start int64, msgRate float64, j, n int, span time.Duration) Schedule {
	if msgRate <= 0 || n <= 0 {
		return Schedule{Start: start}
	}
	period := float64(n) * 1e9 / msgRate
	offset := int64(float64(j) * period / float64(n))
	s := Schedule{Start: start, Offset: offset, Period: period}
	s.Count = s.countBefore(start + int64(span))
	return s
}

// At is the scheduled time of message i.
func (s Schedule) At(i int64) int64 {
	return s.Start + s.Offset + int64(math.Round(float64(i)*s.Period))
}

// countBefore is the number of messages scheduled strictly before t.
func (s Schedule) countBefore(t int64) int64 {
	first := s.Start + s.Offset
	if t <= first || s.Period <= 0 {
		return 0
	}
	n := int64(math.Ceil(float64(t-first) / s.Period))
	for n > 0 && s.At(n-1) >= t { // guard rounding at the edge
		n--
	}
	for s.At(n) < t {
		n++
	}
	return n
}

// Due is how many messages are due at time now (scheduled at or before it),
// capped at Count.
func (s Schedule) Due(now int64) int64 {
	return min(s.countBefore(now+1), s.Count)
}

// FirstFrom is the index of the first message scheduled at or after t.
func (s Schedule) FirstFrom(t int64) int64 {
	return min(s.countBefore(t), s.Count)
}

// MsgRate converts offered deliveries/s into messages/s for a fan-out of
// fanout receivers per message.
func MsgRate(deliveries float64, fanout int) float64 {
	if fanout <= 0 {
		return 0
	}
	return deliveries / float64(fanout)
}

// sleepUntil waits until unix-ns time t or until ctx ends; it reports
// whether the wait completed.
func sleepUntil(ctx context.Context, t int64) bool {
	d := time.Duration(t - time.Now().UnixNano())
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
