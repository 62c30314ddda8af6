//go:build !race

// The race detector deepens every call chain, so stack sizes differ there.

package node

import (
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestIdleReaderKeepsMinimalStack: after a socket has served frames, its
// reader parks on the smallest goroutine stack (2 KiB). The idle memory
// figure in BENCHMARKS.md rests on this; a deeper call chain in readPump
// would double every idle socket's stack for good, as Go does not shrink
// the stack of a goroutine parked in the poller.
func TestIdleReaderKeepsMinimalStack(t *testing.T) {
	const sockets = 1000
	n, url, _ := mustReaderNodeN(t)
	stackInuse := func() int64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.StackInuse)
	}
	runtime.GC() // return stacks freed by earlier tests
	runtime.GC()
	before := stackInuse()
	for range sockets {
		ws := mustDial(t, url)
		// A ping and two text frames, served on a pooled worker.
		burst := append(clientFrame(0x80|websocket.PingMessage, []byte("p")), textFrame("{}")...)
		if _, err := ws.NetConn().Write(append(burst, textFrame(`{"type":"ping"}`)...)); err != nil {
			t.Fatal(err)
		}
	}
	// Let the pooled workers, whose stacks have grown, time out and exit.
	deadline := time.Now().Add(workerIdle + readerTestTimeout)
	for n.workers.idle.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	settledGoroutines(n)
	runtime.GC()
	per := float64(stackInuse()-before) / sockets
	t.Logf("stack in use per idle socket: %.0f B", per)
	if per > 3072 {
		t.Fatalf("stack in use per idle socket = %.0f B, want about 2 KiB (the reader's stack has grown)", per)
	}
}
