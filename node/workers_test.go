package node

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitIdle waits until w has want parked workers.
func waitIdle(t *testing.T, w *workers, want int32) {
	t.Helper()
	for deadline := time.Now().Add(readerTestTimeout); w.idle.Load() != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d parked workers, want %d", w.idle.Load(), want)
		}
	}
}

// runWait runs f on w and waits for it.
func runWait(w *workers, f func()) {
	done := make(chan struct{})
	w.goF(func() { f(); close(done) })
	<-done
}

func TestWorkersReuseParkedGoroutine(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	w := newWorkers(stop)
	var first, second string
	runWait(w, func() { first = goroutineID() })
	waitIdle(t, w, 1)
	// The parked worker takes the next job.
	runWait(w, func() { second = goroutineID() })
	if first == "" || first != second {
		t.Fatalf("jobs ran on goroutines %q and %q, want the same one", first, second)
	}
}

func TestWorkersGoFUsesParkedGoroutine(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	w := newWorkers(stop)
	var first string
	runWait(w, func() { first = goroutineID() })
	waitIdle(t, w, 1)
	// A worker counts itself idle just before it waits for a job, so on a
	// busy machine goF may find it not yet waiting and start a new
	// goroutine: that is allowed. What must hold is that a worker waiting
	// for a job gets it; the first one waits longest, so it is first in
	// line (Go's channel receivers are served in order).
	var ids []string
	for deadline := time.Now().Add(readerTestTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got := make(chan string, 1)
		w.goF(func() { got <- goroutineID() }) // does not wait
		id := <-got
		if id == first {
			return
		}
		ids = append(ids, id)
	}
	t.Fatalf("goF jobs ran on goroutines %v, never on the parked %s", ids, first)
}

// goroutineID is the calling goroutine's number, from its stack header
// ("goroutine 42 [running]:"); tests only.
func goroutineID() string {
	var buf [64]byte
	f := strings.Fields(string(buf[:runtime.Stack(buf[:], false)]))
	if len(f) < 2 || f[0] != "goroutine" {
		return ""
	}
	return f[1]
}

func TestWorkersCapParkedAndStop(t *testing.T) {
	stop := make(chan struct{})
	w := newWorkers(stop)
	const jobs = maxIdleWorkers + 10
	release := make(chan struct{})
	var started, wg sync.WaitGroup
	started.Add(jobs)
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runWait(w, func() { started.Done(); <-release })
		}()
	}
	started.Wait() // every job runs at once, each on its own worker
	close(release)
	wg.Wait()
	waitIdle(t, w, maxIdleWorkers)
	close(stop)
	waitIdle(t, w, 0) // goleak (TestMain) checks they are gone
}
