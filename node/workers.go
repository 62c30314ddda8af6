package node

import (
	"sync"
	"sync/atomic"
	"time"
)

// Frames are served off the reader's stack (reader.go), and a writer runs
// only while its queue is not empty (writer.go). A fresh goroutine for each
// would start with a 2 KiB stack and grow it, copying it each time, to what
// gorilla's write path, JWT checks and go-redis calls need: runtime.copystack
// was 11 % of node CPU in the rooms benchmark (writers) and newstack 6–7 %
// while sockets connect (frames). workers keeps a few goroutines whose stacks
// have already grown parked for reuse.
const (
	// maxIdleWorkers bounds the parked workers and so the memory their
	// grown stacks hold when nothing happens.
	maxIdleWorkers = 32
	// workerIdle is how long a parked worker waits for work before it exits.
	workerIdle = 2 * time.Second
)

// workers is a pool of goroutines for frame serving, writers, and the Redis
// calls that register and clean up a socket (accept.go). Safe for
// concurrent use.
type workers struct {
	jobs chan func()  // unbuffered: a send succeeds only to a parked worker
	idle atomic.Int32 // parked workers
	stop <-chan struct{}
}

func newWorkers(stop <-chan struct{}) *workers {
	return &workers{jobs: make(chan func()), stop: stop}
}

// goF runs f on a pooled goroutine (a new one if none is parked) without
// waiting, like a go statement.
func (w *workers) goF(f func()) {
	select {
	case w.jobs <- f:
	default:
		s := starters.Get().(*starter)
		s.w, s.f = w, f
		go s.run() // a func value built once: the go statement allocates nothing
	}
}

// starter carries a job to a new worker goroutine. Pooled, so starting a
// goroutine beyond the parked ones (a burst to many sockets) allocates no
// closure for the go statement.
type starter struct {
	w   *workers
	f   func()
	run func() // bound once: hands the job over, frees the starter, works
}

var starters sync.Pool

func init() { starters.New = newStarter } // not in the declaration: run refers to starters

func newStarter() any {
	s := &starter{}
	s.run = func() {
		w, f := s.w, s.f
		s.w, s.f = nil, nil
		starters.Put(s)
		w.work(f)
	}
	return s
}

// work runs f, then serves further jobs while parked workers are fewer than
// maxIdleWorkers, until it has been idle for workerIdle or the node stops.
func (w *workers) work(f func()) {
	f()
	var t *time.Timer
	for {
		if w.idle.Add(1) > maxIdleWorkers {
			w.idle.Add(-1)
			return
		}
		if t == nil {
			t = time.NewTimer(workerIdle)
		} else {
			t.Reset(workerIdle)
		}
		select {
		case f = <-w.jobs:
			w.idle.Add(-1)
			f()
		case <-t.C:
			w.idle.Add(-1)
			return
		case <-w.stop:
			w.idle.Add(-1)
			t.Stop()
			return
		}
	}
}
