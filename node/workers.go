package node

import (
	"sync/atomic"
	"time"
)

// Frames are served off the reader's stack (reader.go). A fresh goroutine
// per burst would start with a 2 KiB stack and grow it, copying it each
// time, to the ~16 KiB that JWT checks and go-redis calls need: 6–7 % of
// node CPU while sockets connect. workers keeps a few goroutines whose
// stacks have already grown parked for reuse.
const (
	// maxIdleWorkers bounds the parked workers and so the memory their
	// grown stacks hold when nothing happens.
	maxIdleWorkers = 32
	// workerIdle is how long a parked worker waits for work before it exits.
	workerIdle = 2 * time.Second
)

// job is one piece of work handed to a worker; done is closed after f ran.
type job struct {
	f    func()
	done chan struct{}
}

// workers is a pool of goroutines for offStack. Safe for concurrent use.
type workers struct {
	jobs chan job     // unbuffered: a send succeeds only to a parked worker
	idle atomic.Int32 // parked workers
	stop <-chan struct{}
}

func newWorkers(stop <-chan struct{}) *workers {
	return &workers{jobs: make(chan job), stop: stop}
}

// run runs f on a pooled goroutine (a new one if none is parked) and waits
// for it.
func (w *workers) run(f func()) {
	j := job{f: f, done: make(chan struct{})}
	select {
	case w.jobs <- j:
		go func() {}()
	default:
		go w.work(j)
	}
	<-j.done
}

// work runs j, then serves further jobs while parked workers are fewer than
// maxIdleWorkers, until it has been idle for workerIdle or the node stops.
func (w *workers) work(j job) {
	j.f()
	close(j.done)
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
		case j = <-w.jobs:
			w.idle.Add(-1)
			j.f()
			close(j.done)
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
