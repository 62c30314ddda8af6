package main

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/gorilla/websocket"
)

// publisher is one sending connection and where it is in its schedule.
type publisher struct {
	c     *conn
	sched Schedule
	next  int64 // index of the next message
	dead  bool  // a write failed; no more sends
}

// pubHeap orders publishers by the due time of their next message.
type pubHeap []*publisher

func (h pubHeap) Len() int           { return len(h) }
func (h pubHeap) Less(i, j int) bool { return h[i].sched.At(h[i].next) < h[j].sched.At(h[j].next) }
func (h pubHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pubHeap) Push(x any)        { *h = append(*h, x.(*publisher)) }
func (h *pubHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}

// pacer sends the messages of all of a worker's publishers, in scheduled
// order, from one OS thread. Go timers wake up with millisecond granularity
// on an idle runtime, which would add up to 1 ms of generator lateness to
// every latency; sleeping with nanosleep on a locked thread (timer slack
// lowered) keeps send times within tens of microseconds of schedule. Every
// message still carries its scheduled time, so if the pacer falls behind
// the delay shows up as latency (no coordinated omission).
type pacer struct {
	w    *worker
	from int64 // first scheduled time inside the window
	rng  *rand.Rand
	buf  []byte
	sent []int64 // per target, window only
	all  int64
	errs int64
}

// runPacer sends until every schedule is done or ctx ends, then adds its
// counts to the worker's result.
func (w *worker) runPacer(ctx context.Context, pubs []*publisher, from int64) {
	p := &pacer{w: w, from: from, rng: rand.New(rand.NewPCG(uint64(w.id)+1, uint64(from))),
		buf: make([]byte, 0, w.cfg.Payload+256), sent: make([]int64, w.cfg.Targets())}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	setTimerSlack(timerSlackNs)
	h := pubHeap(pubs)
	heap.Init(&h)
	for h.Len() > 0 {
		pub := h[0]
		at := pub.sched.At(pub.next)
		if !preciseSleepUntil(ctx, at) {
			break
		}
		p.send(pub, at)
		pub.next++
		if pub.dead || pub.next >= pub.sched.Count {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.res.Sent = addSlices(w.res.Sent, p.sent)
	w.res.SentAll += p.all
	w.res.SendErrors += p.errs
}

// send writes message pub.next, scheduled at at.
func (p *pacer) send(pub *publisher, at int64) {
	s := pub.c.slot
	target := s.Target
	if p.w.cfg.Scenario == scDirect {
		target = p.rng.IntN(p.w.cfg.Receivers())
	}
	p.buf = p.w.appendFrame(p.buf[:0], Stamp{Pub: int64(s.Pub), Seq: pub.next, Sched: at, Target: int64(target)})
	t0 := time.Now().UnixNano()
	err := pub.c.ws.WriteMessage(websocket.TextMessage, p.buf)
	if at >= p.from { // like every reported figure: the measured window only
		p.w.sendLag.Record(t0 - at)
		p.w.writeT.Record(time.Now().UnixNano() - t0)
	}
	if err != nil {
		p.errs++
		pub.dead = true
		return
	}
	p.all++
	if at >= p.from {
		p.sent[target]++
	}
}

// appendFrame appends the client frame that publishes stamp st.
func (w *worker) appendFrame(dst []byte, st Stamp) []byte {
	if w.cfg.Scenario == scDirect {
		dst = append(dst, `{"type":"direct","to_user":"`...)
		dst = append(dst, w.cfg.ReceiverUser(int(st.Target))...)
	} else {
		dst = append(dst, `{"type":"message","echo":false,"room":"`...)
		dst = append(dst, w.cfg.RoomName(int(st.Target))...)
	}
	dst = append(dst, `","data":`...)
	dst = AppendData(dst, st, w.cfg.Payload)
	return append(dst, '}')
}
