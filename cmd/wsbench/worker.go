package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// tokenTTL is the lifetime of the generated JWTs; longer than any run.
const tokenTTL = 2 * time.Hour

// worker owns a share of the run's connections inside one process.
type worker struct {
	cfg     *Config
	id      int
	slots   []Slot
	auth    [][]byte
	pool    *dialPool
	recv    *recvState
	shared  seenSet // direct: one duplicate filter for the whole process
	connLat *Histogram
	sendLag *Histogram
	writeT  *Histogram
	log     io.Writer

	mu      sync.Mutex // guards conns and res
	conns   []*conn    // aligned with slots; nil when not connected
	res     WorkerResult
	readers sync.WaitGroup
}

// newWorker prepares worker id: its slots, tokens and dialers.
func newWorker(cfg *Config, id int, logw io.Writer) (*worker, error) {
	slots := cfg.WorkerSlots(id)
	auth, err := authFrames(cfg.Secret, slots, tokenTTL)
	if err != nil {
		return nil, err
	}
	pool, err := newDialPool(cfg.SrcAddrs, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	w := &worker{
		cfg: cfg, id: id, slots: slots, auth: auth, pool: pool, log: logw,
		connLat: NewHistogram(), sendLag: NewHistogram(), writeT: NewHistogram(),
		conns: make([]*conn, len(slots)),
	}
	w.res = WorkerResult{Workers: 1, ByNode: make([]int64, len(cfg.URLs))}
	if cfg.publishes() {
		w.res.Members = make([]int64, cfg.Targets())
		w.res.Sent = make([]int64, cfg.Targets())
	}
	w.recv = newRecvState(w.keyFunc())
	if cfg.Scenario == scDirect {
		w.shared = newAtomicBitset(int64(cfg.Pubs) * cfg.SeqLimit())
	}
	return w, nil
}

// keyFunc maps a stamp to its duplicate-detection key.
func (w *worker) keyFunc() func(Stamp) int64 {
	if !w.cfg.publishes() {
		return func(Stamp) int64 { return -1 }
	}
	pubs, limit := int64(w.cfg.Pubs), w.cfg.SeqLimit()
	if w.cfg.Scenario == scDirect {
		return func(s Stamp) int64 {
			if s.Seq >= limit {
				return -1
			}
			return s.Pub*limit + s.Seq
		}
	}
	return func(s Stamp) int64 { return s.Seq*pubs + s.Pub%pubs }
}

// seenFor returns the duplicate filter for a receiver.
func (w *worker) seenFor(s Slot) seenSet {
	switch {
	case w.shared != nil:
		return w.shared
	case w.cfg.Scenario == scRooms:
		return newBitset(int64(w.cfg.Pubs) * w.cfg.SeqLimit())
	}
	return newBitset(0)
}

// connectAll opens every slot with this worker's share of the dial
// concurrency.
func (w *worker) connectAll(ctx context.Context) {
	par := max(1, (w.cfg.Concurrency+w.cfg.Procs-1)/w.cfg.Procs)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(par, len(w.slots)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(w.slots) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				w.connectOne(ctx, i)
			}
		}()
	}
	wg.Wait()
	w.logf("worker %d: connected %d/%d", w.id, w.res.Connected, w.res.Attempted)
}

// connectOne opens slot i, records the outcome and starts its reader.
func (w *worker) connectOne(ctx context.Context, i int) {
	s := w.slots[i]
	t0 := time.Now().UnixNano()
	ws, err := openSession(ctx, w.pool, w.cfg, s, w.auth[i])
	t1 := time.Now().UnixNano()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.res.Attempted++
	w.res.ConnStart = minNonZero(w.res.ConnStart, t0)
	if err != nil {
		w.noteFailure(err)
		return
	}
	w.res.ConnEnd = max(w.res.ConnEnd, t1)
	w.connLat.Record(t1 - t0)
	c := &conn{ws: ws, slot: s}
	if s.Role == roleReceiver {
		c.seen = w.seenFor(s)
		if w.res.Members != nil && s.Target >= 0 {
			w.res.Members[s.Target]++
		}
	}
	w.conns[i] = c
	w.res.Connected++
	w.res.ByNode[s.Node]++
	w.readers.Add(1)
	go w.recv.readLoop(c, w.readers.Done)
}

// noteFailure records a failed attempt; w.mu must be held.
func (w *worker) noteFailure(err error) {
	stage := stageDial
	var se *stageError
	if errors.As(err, &se) {
		stage = se.Stage
	}
	if w.res.Failures == nil {
		w.res.Failures = map[string]int64{}
	}
	w.res.Failures[stage]++
	if len(w.res.FailSamples) < 5 {
		w.res.FailSamples = append(w.res.FailSamples, err.Error())
	}
}

// teardown closes every socket with a normal close frame and waits for
// the readers to stop.
func (w *worker) teardown() {
	w.recv.closing.Store(true)
	w.mu.Lock()
	conns := w.conns
	w.mu.Unlock()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	deadline := time.Now().Add(time.Second)
	for _, c := range conns {
		if c != nil {
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, deadline)
			c.ws.Close()
		}
	}
	w.readers.Wait()
}

// progress is the connection count so far, for the ready message.
func (w *worker) progress() *WorkerResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	return &WorkerResult{Attempted: w.res.Attempted, Connected: w.res.Connected}
}

// finish copies the receive-side counters into the result.
func (w *worker) finish(cpu0 float64) *WorkerResult {
	r := w.recv
	w.mu.Lock()
	defer w.mu.Unlock()
	w.res.CPU = cpuSeconds() - cpu0
	w.res.MaxRSSKiB = maxRSSKiB()
	w.res.Received, w.res.Dups, w.res.Strays = r.received.Load(), r.dups.Load(), r.strays.Load()
	w.res.Warmup, w.res.Echoes, w.res.ErrFrames = r.warmup.Load(), r.echoes.Load(), r.errFrames.Load()
	w.res.Latency = r.lat.Snapshot()
	w.res.Timeline = r.timeline.Load().Snapshot()
	w.res.ConnectLat = w.connLat.Snapshot()
	w.res.SendLag = w.sendLag.Snapshot()
	w.res.WriteTime = w.writeT.Snapshot()
	r.mu.Lock()
	w.res.Disconnects = mergeCounts(nil, r.disconnects)
	w.res.ErrSamples = append([]string(nil), r.errSamples...)
	r.mu.Unlock()
	res := w.res
	return &res
}

func (w *worker) logf(format string, args ...any) {
	if w.cfg.Verbose && w.log != nil {
		fmt.Fprintf(w.log, format+"\n", args...)
	}
}
