package node

import (
	"sync/atomic"
	"time"
)

// Frames are served off the reader's stack (reader.go), and a writer runs
// only while its queue is not empty (pumps.go). A fresh goroutine for each
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

// job is one piece of work handed to a worker; done, if not nil, is closed
// after f ran.
type job struct {
	f    func()
	done chan struct{}
}

// workers is a pool of goroutines for frame serving (run) and writers
// (goF). Safe for concurrent use.
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
	w.start(j)
	<-j.done
}

// goF runs f on a pooled goroutine (a new one if none is parked) without
// waiting, like a go statement.
func (w *workers) goF(f func()) { w.start(job{f: f}) }

func (w *workers) start(j job) {
	select {
	case w.jobs <- j:
	default:
		go w.work(j)
	}
}

func (j job) do() {
	j.f()
	if j.done != nil {
		close(j.done)
	}
}

// work runs j, then serves further jobs while parked workers are fewer than
// maxIdleWorkers, until it has been idle for workerIdle or the node stops.
func (w *workers) work(j job) {
	j.do()
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
			j.do()
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
