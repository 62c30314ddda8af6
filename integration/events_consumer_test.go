package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	wscluster "github.com/wsnode/wsnode/cluster"
)

// eventsWorker is a "wsnode events" process whose stdout the test reads
// (or, to make it block, leaves unread).
type eventsWorker struct {
	p        *proc
	out      *os.File // read end of the worker's stdout
	mu       sync.Mutex
	lines    []workerLine
	readDone chan struct{}
	reading  sync.Once
}

// workerLine is one output line of wsnode events, reduced to what the test
// looks at.
type workerLine struct {
	ID          string          `json:"id"`
	Redelivered bool            `json:"redelivered"`
	Event       wscluster.Event `json:"event"`
}

// startEventsWorker starts "wsnode events" as consumer name of group g on
// the stream of prefix; with drain its output is read as it comes,
// otherwise only by readAll.
func startEventsWorker(t *testing.T, r *redisServer, prefix, name string, drain bool, extra ...string) *eventsWorker {
	t.Helper()
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"events", "--redis-url", "redis://" + r.addr() + "/0", "--key-prefix", prefix,
		"--group", "g", "--consumer", name, "--block", "200ms", "--log-level", "debug"}, extra...)
	w := &eventsWorker{out: rd, readDone: make(chan struct{})}
	w.p = &proc{name: "wsnode events " + name, log: &logBuffer{}, done: make(chan struct{})}
	w.p.cmd = exec.Command(wsnodeBin, args...)
	w.p.cmd.Stdout, w.p.cmd.Stderr = wr, w.p.log
	w.p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", w.p.name, err)
	}
	wr.Close() // the worker holds the write end; EOF when it exits
	go func() { w.p.waited = w.p.cmd.Wait(); close(w.p.done) }()
	t.Cleanup(func() {
		checkLogs(t, w.p) // kills it
		<-w.readDone
		rd.Close()
		if t.Failed() {
			t.Logf("----- log of %s -----\n%s", w.p.name, w.p.log.String())
		}
	})
	t.Cleanup(func() { w.startReading(t) }) // runs before the cleanup above
	if drain {
		w.startReading(t)
	}
	return w
}

// startReading collects the worker's lines until its stdout closes.
func (w *eventsWorker) startReading(t *testing.T) {
	w.reading.Do(func() { go w.read(t) })
}

func (w *eventsWorker) read(t *testing.T) {
	defer close(w.readDone)
	sc := bufio.NewScanner(w.out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l workerLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("%s printed %q: %v", w.p.name, sc.Text(), err)
			continue
		}
		w.mu.Lock()
		w.lines = append(w.lines, l)
		w.mu.Unlock()
	}
}

func (w *eventsWorker) seen() []workerLine {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]workerLine(nil), w.lines...)
}

// addStreamEvents appends n message events to prefix:events, each with
// pad bytes of data, and returns their ids.
func addStreamEvents(t *testing.T, rdb *redis.Client, prefix string, from, n, pad int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		e := wscluster.Event{Type: wscluster.EventMessage, TS: time.Now().UnixMilli(), NodeID: "n1", ConnID: "c1",
			User: "alice", ConnType: "user", Room: "lobby", MsgID: strconv.Itoa(i),
			Data: json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", pad)))}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: prefix + ":events", MaxLen: 100000,
			Approx: true, Values: []any{wscluster.EventField, b}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func pendingOf(t *testing.T, rdb *redis.Client, prefix string) (int64, map[string]int64) {
	t.Helper()
	p, err := rdb.XPending(context.Background(), prefix+":events", "g").Result()
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") { // no worker has created it yet
		return 0, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return p.Count, p.Consumers
}

// Two "wsnode events" processes in one group print every event exactly
// once between them and leave nothing pending; SIGTERM stops them with
// exit 0. A worker killed with entries pending (blocked on a full stdout
// pipe) has them taken over by another after --claim-idle, as are entries
// read without acknowledgement by a consumer that never came back.
func TestEventsWorkers(t *testing.T) {
	r := startRedis(t, 0)
	rdb := redis.NewClient(&redis.Options{Addr: r.addr()})
	t.Cleanup(func() { _ = rdb.Close() })

	t.Run("two workers share a group", func(t *testing.T) {
		ids := addStreamEvents(t, rdb, "share", 0, 300, 20)
		a := startEventsWorker(t, r, "share", "wA", true)
		b := startEventsWorker(t, r, "share", "wB", true)
		ids = append(ids, addStreamEvents(t, rdb, "share", 300, 300, 20)...)
		waitFor(t, 60*time.Second, "every event printed", func() error {
			if n := len(a.seen()) + len(b.seen()); n < len(ids) {
				return fmt.Errorf("%d of %d printed", n, len(ids))
			}
			return nil
		})
		count := map[string]int{}
		for _, l := range append(a.seen(), b.seen()...) {
			count[l.ID]++
		}
		for i, id := range ids {
			if count[id] != 1 {
				t.Fatalf("event %d (%s) printed %d times", i, id, count[id])
			}
		}
		if len(count) != len(ids) {
			t.Fatalf("%d distinct entries printed, want %d", len(count), len(ids))
		}
		waitFor(t, 30*time.Second, "nothing pending", func() error {
			if n, per := pendingOf(t, rdb, "share"); n != 0 {
				return fmt.Errorf("pending %v", per)
			}
			return nil
		})
		t.Logf("wA printed %d, wB printed %d", len(a.seen()), len(b.seen()))
		for _, w := range []*eventsWorker{a, b} {
			w.p.signal(syscall.SIGTERM)
			if code := w.p.wait(t, 30*time.Second); code != 0 {
				t.Errorf("%s exited %d after SIGTERM, want 0", w.p.name, code)
			}
		}
	})

	t.Run("kill -9 with entries pending", func(t *testing.T) {
		// ~1 KiB lines: a 64 KiB pipe that nobody reads holds a few dozen,
		// so wA blocks in the middle of its first batch of 100.
		ids := addStreamEvents(t, rdb, "kill", 0, 300, 1000)
		a := startEventsWorker(t, r, "kill", "wA", false)
		var stuck int64
		waitFor(t, 60*time.Second, "wA blocked with entries pending", func() error {
			_, per := pendingOf(t, rdb, "kill")
			before := per["wA"]
			time.Sleep(time.Second)
			_, per = pendingOf(t, rdb, "kill")
			if before == 0 || per["wA"] != before {
				return fmt.Errorf("wA pending %d, then %d", before, per["wA"])
			}
			stuck = before
			return nil
		})
		a.p.signal(killSignal)
		a.p.wait(t, 30*time.Second)
		a.startReading(t)
		<-a.readDone // what wA wrote into the pipe before it died
		if _, per := pendingOf(t, rdb, "kill"); per["wA"] == 0 {
			t.Fatal("wA held no pending entries when killed")
		} else {
			stuck = per["wA"]
		}
		// A consumer that read and vanished without acknowledging.
		res, err := rdb.XReadGroup(context.Background(), &redis.XReadGroupArgs{Group: "g", Consumer: "ghost",
			Streams: []string{"kill:events", ">"}, Count: 5, Block: -1}).Result()
		if err != nil || len(res[0].Messages) != 5 {
			t.Fatalf("XREADGROUP as ghost: %v %v", res, err)
		}

		b := startEventsWorker(t, r, "kill", "wB", true, "--claim-idle", "1s", "--claim-interval", "200ms")
		waitFor(t, 60*time.Second, "every event printed and nothing pending", func() error {
			count := map[string]bool{}
			for _, l := range append(a.seen(), b.seen()...) {
				count[l.ID] = true
			}
			if len(count) < len(ids) {
				return fmt.Errorf("%d of %d printed", len(count), len(ids))
			}
			if n, per := pendingOf(t, rdb, "kill"); n != 0 {
				return fmt.Errorf("pending %v", per)
			}
			return nil
		})
		printedByA := map[string]bool{}
		for _, l := range a.seen() {
			printedByA[l.ID] = true
		}
		dup, redelivered := 0, 0
		for _, l := range b.seen() {
			if printedByA[l.ID] {
				dup++
			}
			if l.Redelivered {
				redelivered++
			}
		}
		t.Logf("wA printed %d and held %d when killed; wB printed %d (%d redelivered, %d already printed by wA)",
			len(a.seen()), stuck, len(b.seen()), redelivered, dup)
		// wA acknowledges each line after writing it, and was killed while
		// blocked writing the next: nothing it printed is printed again but
		// for a kill between a write and its acknowledgement.
		if dup > 1 {
			t.Errorf("%d events printed by both workers", dup)
		}
		if want := int(stuck) + 5; redelivered < want {
			t.Errorf("wB printed %d redelivered entries, want at least %d (wA's and ghost's)", redelivered, want)
		}
	})
}
