package main

import (
	"sync/atomic"
	"time"
)

// timelineStep is the width of one timeline slice: short enough to show a
// stall of tens of milliseconds as its own spike, long enough that a 20 s
// window is 200 points.
const timelineStep = 100 * time.Millisecond

// Timeline records, per slice of the measurement window, the worst latency
// and the number of deliveries whose send was scheduled in that slice. It
// shows when a tail happens: a periodic job stalls every N seconds, GC at
// random. Safe for concurrent use.
type Timeline struct {
	from  int64 // unix ns of slice 0
	worst []atomic.Int64
	count []atomic.Int64
}

// NewTimeline covers span from unix-ns time from.
func NewTimeline(from int64, span time.Duration) *Timeline {
	n := int((span + timelineStep - 1) / timelineStep)
	return &Timeline{from: from, worst: make([]atomic.Int64, n), count: make([]atomic.Int64, n)}
}

// Record notes a delivery scheduled at sched (unix ns) that took lat ns.
// Deliveries outside the span are ignored.
func (t *Timeline) Record(sched, lat int64) {
	if t == nil || sched < t.from {
		return
	}
	i := int((sched - t.from) / int64(timelineStep))
	if i >= len(t.worst) {
		return
	}
	t.count[i].Add(1)
	for w := &t.worst[i]; ; {
		old := w.Load()
		if lat <= old || w.CompareAndSwap(old, lat) {
			return
		}
	}
}

// Snapshot copies the timeline for a result.
func (t *Timeline) Snapshot() *TimelineSnapshot {
	if t == nil {
		return nil
	}
	s := &TimelineSnapshot{From: t.from, StepMS: timelineStep.Milliseconds(),
		Worst: make([]int64, len(t.worst)), Count: make([]int64, len(t.count))}
	for i := range t.worst {
		s.Worst[i], s.Count[i] = t.worst[i].Load(), t.count[i].Load()
	}
	return s
}

// TimelineSnapshot is a Timeline as stored in a result.
type TimelineSnapshot struct {
	From   int64   `json:"from"`    // unix ns of slice 0
	StepMS int64   `json:"step_ms"` // slice width
	Worst  []int64 `json:"worst"`   // worst latency per slice, ns
	Count  []int64 `json:"count"`   // deliveries per slice
}

// Merge combines the timelines of two workers of one run (same From and
// step): the worst of both, the sum of counts.
func (s *TimelineSnapshot) Merge(o *TimelineSnapshot) *TimelineSnapshot {
	switch {
	case o == nil:
		return s
	case s == nil:
		c := *o
		c.Worst, c.Count = append([]int64(nil), o.Worst...), append([]int64(nil), o.Count...)
		return &c
	}
	if n := len(o.Worst); n > len(s.Worst) {
		s.Worst = append(s.Worst, make([]int64, n-len(s.Worst))...)
		s.Count = append(s.Count, make([]int64, n-len(s.Count))...)
	}
	for i := range o.Worst {
		s.Worst[i] = max(s.Worst[i], o.Worst[i])
		s.Count[i] += o.Count[i]
	}
	return s
}
