package main

import (
	"context"
	"time"
)

// drainQuiet is how long deliveries must stay still before a worker stops
// waiting for late ones after the window.
const drainQuiet = 300 * time.Millisecond

// setup runs before the coordinator's "go": every scenario except connect
// opens its sockets here.
func (w *worker) setup(ctx context.Context) {
	if w.cfg.Scenario != scConnect {
		w.connectAll(ctx)
	}
}

// run executes the measured part of the scenario, starting at unix-ns
// time start, and returns this worker's result.
func (w *worker) run(ctx context.Context, start int64) *WorkerResult {
	switch w.cfg.Scenario {
	case scConnect:
		return w.runConnect(ctx, start)
	case scRooms, scDirect:
		return w.runPublish(ctx, start)
	}
	now := time.Now().UnixNano()
	w.res.WindowStart, w.res.WindowEnd = now, now
	return w.finish(cpuSeconds())
}

// runConnect measures connections per second to "joined".
func (w *worker) runConnect(ctx context.Context, start int64) *WorkerResult {
	sleepUntil(ctx, start)
	cpu0 := cpuSeconds()
	w.connectAll(ctx)
	w.res.WindowStart, w.res.WindowEnd = w.res.ConnStart, w.res.ConnEnd
	return w.finish(cpu0)
}

// runPublish drives this worker's publishers on their open-loop schedules,
// then waits for late deliveries.
func (w *worker) runPublish(ctx context.Context, start int64) *WorkerResult {
	from := start + int64(w.cfg.Warmup)
	end := from + int64(w.cfg.Duration)
	w.recv.timeline.Store(NewTimeline(from, w.cfg.Duration))
	w.recv.measureFrom.Store(from)
	msgRate := MsgRate(w.cfg.Rate, w.cfg.Fanout())
	span := w.cfg.Warmup + w.cfg.Duration
	var pubs []*publisher
	for _, c := range w.conns {
		if c != nil && c.slot.Role == rolePublisher {
			sched := NewSchedule(start, msgRate, c.slot.Pub, w.cfg.Publishers(), span)
			if sched.Count > 0 {
				pubs = append(pubs, &publisher{c: c, sched: sched})
			}
		}
	}
	paced := make(chan struct{})
	go func() {
		defer close(paced)
		w.runPacer(ctx, pubs, from)
	}()
	sleepUntil(ctx, from)
	cpu0 := cpuSeconds()
	<-paced
	w.drain(ctx, end)
	w.res.WindowStart, w.res.WindowEnd = from, time.Now().UnixNano()
	return w.finish(cpu0)
}

// drain waits past end for late deliveries, at most cfg.Drain. A lone
// worker knows exactly what it expects and waits for all of it; with
// several workers, publishers live elsewhere, so it stops once no stamped
// frame has arrived for drainQuiet.
func (w *worker) drain(ctx context.Context, end int64) {
	sleepUntil(ctx, end)
	if w.cfg.Drain <= 0 {
		return
	}
	deadline := time.Now().Add(w.cfg.Drain)
	quiet := min(drainQuiet, w.cfg.Drain)
	w.mu.Lock()
	expected := w.res.Expected()
	w.mu.Unlock()
	last, since := w.recv.activity(), time.Now()
	tick := time.NewTicker(quiet / 6)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a := w.recv.activity()
		switch {
		case w.cfg.Procs == 1:
			if w.recv.received.Load() >= expected {
				return
			}
		case a != last:
			last, since = a, time.Now()
		case time.Since(since) >= quiet:
			return
		}
	}
}
