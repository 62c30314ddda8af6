package client

import (
	"sync"
	"sync/atomic"
)

// dispatcher runs callbacks one at a time, in order, on its own goroutine,
// so that a callback can call back into the client (Publish waits for an
// ack the reader must read) and a slow callback never stalls the reader.
// Its queue is unbounded: a callback that falls behind costs memory, not
// a missed ping.
type dispatcher struct {
	mu      sync.Mutex
	queue   []func()
	wake    chan struct{}
	closing bool
	done    chan struct{}
	// inCallback is 1 while a callback runs; Close called then does not
	// wait for the dispatcher (the callback may be the caller).
	inCallback atomic.Bool
}

func newDispatcher() *dispatcher {
	d := &dispatcher{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

// post queues fn; after close it is dropped.
func (d *dispatcher) post(fn func()) {
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, fn)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// close lets the queued callbacks run, then ends the goroutine.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		q, closing := d.queue, d.closing
		d.queue = nil
		d.mu.Unlock()
		for _, fn := range q {
			d.inCallback.Store(true)
			fn()
			d.inCallback.Store(false)
		}
		if len(q) > 0 {
			continue
		}
		if closing {
			return
		}
		<-d.wake
	}
}
