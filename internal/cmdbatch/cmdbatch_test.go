package cmdbatch

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a go-redis hook that counts plain commands and pipelines
// (with their sizes) of the tests' own commands (INCR, EVALSHA; not what
// go-redis sends to set up a connection), and can hold the next plain
// command in flight until released.
type recorder struct {
	mu        sync.Mutex
	plain     int
	pipelines []int
	hold      chan struct{} // if set, the next plain command waits for it
	held      chan struct{} // closed when that command is waiting
	panicKey  string        // a pipeline holding a command on this key panics
}

func (r *recorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !counted(cmd) {
			return next(ctx, cmd)
		}
		r.mu.Lock()
		r.plain++
		hold, held := r.hold, r.held
		r.hold = nil
		r.mu.Unlock()
		if hold != nil {
			close(held)
			<-hold
		}
		return next(ctx, cmd)
	}
}

func (r *recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || !counted(cmds[0]) {
			return next(ctx, cmds)
		}
		r.mu.Lock()
		for _, c := range cmds {
			if r.panicKey != "" && c.Args()[1] == r.panicKey {
				r.mu.Unlock()
				panic("hook panics on " + r.panicKey)
			}
		}
		r.pipelines = append(r.pipelines, len(cmds))
		r.mu.Unlock()
		return next(ctx, cmds)
	}
}

func counted(cmd redis.Cmder) bool { return cmd.Name() == "incr" || cmd.Name() == "evalsha" }

// holdNext makes the next plain command wait until the returned release
// is called; held is closed once it waits.
func (r *recorder) holdNext() (held <-chan struct{}, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	hold, h := make(chan struct{}), make(chan struct{})
	r.hold, r.held = hold, h
	return h, func() { close(hold) }
}

func (r *recorder) counts() (int, []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plain, append([]int(nil), r.pipelines...)
}

func newClient(t *testing.T) (*redis.Client, *recorder) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), Protocol: 2})
	t.Cleanup(func() { _ = rdb.Close() })
	rec := &recorder{}
	rdb.AddHook(rec)
	return rdb, rec
}

// queued waits until n calls wait in b's queue.
func queued(t *testing.T, b *Batcher, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		got := len(b.queue)
		b.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", got, n)
		}
	}
}

func TestAloneIsAPlainCommand(t *testing.T) {
	rdb, rec := newClient(t)
	b := New(rdb, Config{})
	cmd := redis.NewIntCmd(context.Background(), "incr", "k")
	if err := b.Do(context.Background(), cmd); err != nil || cmd.Val() != 1 {
		t.Fatalf("incr = %d, %v", cmd.Val(), err)
	}
	if plain, pipes := rec.counts(); plain != 1 || len(pipes) != 0 {
		t.Fatalf("%d plain commands and pipelines %v; want 1 plain, no pipeline", plain, pipes)
	}
	if b.inFlight != 0 {
		t.Fatal("a round trip still counted after the only call returned")
	}
}

// startIncrs starts n INCRs of key through b; the returned wait gives their
// replies.
func startIncrs(b *Batcher, ctx context.Context, key string, n int) (wait func() ([]int64, []error)) {
	vals, errs := make([]int64, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := redis.NewIntCmd(ctx, "incr", key)
			errs[i] = b.Do(ctx, cmd)
			vals[i] = cmd.Val()
		})
	}
	return func() ([]int64, []error) { wg.Wait(); return vals, errs }
}

// behindOne sends one INCR of k and holds it in flight until n more are
// queued behind it, then lets it go; it returns the waits for the first and
// for the n others.
func behindOne(t *testing.T, b *Batcher, rec *recorder, n int) (first, rest func() ([]int64, []error)) {
	t.Helper()
	ctx := context.Background()
	held, release := rec.holdNext()
	first = startIncrs(b, ctx, "k", 1)
	<-held
	rest = startIncrs(b, ctx, "k", n)
	queued(t, b, n)
	release()
	return first, rest
}

// TestSecondCallerOverlaps: with two round trips in flight allowed, a
// second caller does not wait for the first one's; a third does.
func TestSecondCallerOverlaps(t *testing.T) {
	rdb, rec := newClient(t)
	b := New(rdb, Config{MaxInFlight: 2})
	ctx := context.Background()
	held, release := rec.holdNext()
	first := startIncrs(b, ctx, "k", 1)
	<-held
	cmd := redis.NewIntCmd(ctx, "incr", "other")
	if err := b.Do(ctx, cmd); err != nil || cmd.Val() != 1 {
		t.Fatalf("second caller: %d, %v; want 1 while the first is in flight", cmd.Val(), err)
	}
	b.mu.Lock()
	inFlight := b.inFlight
	b.mu.Unlock()
	if inFlight != 1 {
		t.Fatalf("%d round trips counted, want 1 (the held one)", inFlight)
	}
	held2, release2 := rec.holdNext()
	second := startIncrs(b, ctx, "k", 1)
	<-held2
	third := startIncrs(b, ctx, "k", 1)
	queued(t, b, 1) // two in flight: the third waits
	release()
	release2()
	for _, wait := range []func() ([]int64, []error){first, second, third} {
		if _, errs := wait(); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	if v, _ := rdb.Get(ctx, "k").Int(); v != 3 {
		t.Fatalf("k = %d, want 3", v)
	}
}

// TestQueuedCallsShareOneRoundTrip: while one command is in flight, five
// more queue up; they go as one pipeline once it returns, and each caller
// gets its own reply.
func TestQueuedCallsShareOneRoundTrip(t *testing.T) {
	rdb, rec := newClient(t)
	b := New(rdb, Config{MaxInFlight: 1})
	first, rest := behindOne(t, b, rec, 5)
	if vals, errs := first(); errs[0] != nil || vals[0] != 1 {
		t.Fatalf("first incr = %d, %v; want 1", vals[0], errs[0])
	}
	vals, errs := rest()
	seen := map[int64]bool{}
	for i, v := range vals {
		if errs[i] != nil || v < 2 || v > 6 || seen[v] {
			t.Fatalf("replies %v, errors %v; want 2..6 once each", vals, errs)
		}
		seen[v] = true
	}
	if plain, pipes := rec.counts(); plain != 1 || len(pipes) != 1 || pipes[0] != 5 {
		t.Fatalf("%d plain commands and pipelines %v; want 1 plain and one pipeline of 5", plain, pipes)
	}
}

func TestMaxBatch(t *testing.T) {
	rdb, rec := newClient(t)
	b := New(rdb, Config{MaxBatch: 2, MaxInFlight: 1})
	first, rest := behindOne(t, b, rec, 5)
	first()
	if _, errs := rest(); errors.Join(errs...) != nil {
		t.Fatal(errs)
	}
	// 1 plain, then 2 + 2 as pipelines and the last alone as a plain command.
	if plain, pipes := rec.counts(); plain != 2 || len(pipes) != 2 || pipes[0] != 2 || pipes[1] != 2 {
		t.Fatalf("%d plain commands and pipelines %v; want 2 plain and pipelines [2 2]", plain, pipes)
	}
	if v, _ := rdb.Get(context.Background(), "k").Int(); v != 6 {
		t.Fatalf("k = %d, want 6", v)
	}
}

// TestEndedContextIsNotSent: a queued call whose context ends before its
// batch goes gets the context's error, and its command is not sent.
func TestEndedContextIsNotSent(t *testing.T) {
	rdb, rec := newClient(t)
	b := New(rdb, Config{MaxInFlight: 1})
	held, release := rec.holdNext()
	first := startIncrs(b, context.Background(), "k", 1)
	<-held
	gone, cancel := context.WithCancel(context.Background())
	lost := startIncrs(b, gone, "k", 1)
	queued(t, b, 1)
	kept := startIncrs(b, context.Background(), "k", 2)
	queued(t, b, 3)
	cancel()
	release()
	first()
	if _, errs := lost(); !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("cancelled call: %v, want context.Canceled", errs[0])
	}
	if _, errs := kept(); errors.Join(errs...) != nil {
		t.Fatal(errs)
	}
	if v, _ := rdb.Get(context.Background(), "k").Int(); v != 3 {
		t.Fatalf("k = %d, want 3 (the cancelled INCR not sent)", v)
	}
	if _, pipes := rec.counts(); len(pipes) != 1 || pipes[0] != 2 {
		t.Fatalf("pipelines %v, want one of 2", pipes)
	}
}

func TestBatchContext(t *testing.T) {
	base := context.Background()
	soon, c1 := context.WithTimeout(base, time.Minute)
	defer c1()
	later, c2 := context.WithTimeout(base, time.Hour)
	defer c2()
	calls := func(ctxs ...context.Context) []*call {
		var cs []*call
		for _, c := range ctxs {
			cs = append(cs, &call{ctx: c})
		}
		return cs
	}
	ctx, cancel := batchContext(calls(soon, soon))
	if ctx != soon {
		t.Error("calls sharing a context: not that context")
	}
	cancel()
	ctx, cancel = batchContext(calls(soon, later))
	if d, ok := ctx.Deadline(); !ok || d.Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("mixed deadlines: %v %v, want the latest (an hour)", d, ok)
	}
	cancel()
	c1() // the first caller's cancellation does not end the batch
	if ctx, cancel = batchContext(calls(soon, base)); ctx.Err() != nil {
		t.Errorf("batch context ended with its first caller's: %v", ctx.Err())
	}
	if _, ok := ctx.Deadline(); ok {
		t.Error("one call without a deadline: the batch has one")
	}
	cancel()
}

// TestEvalShaUnderLoad: concurrent callers' scripts, batched or not, each
// get their own reply, and nothing is lost or doubled.
func TestEvalShaUnderLoad(t *testing.T) {
	rdb, rec := newClient(t)
	ctx := context.Background()
	script := redis.NewScript(`return redis.call("INCRBY", KEYS[1], ARGV[1])`)
	if err := script.Load(ctx, rdb).Err(); err != nil {
		t.Fatal(err)
	}
	b := New(rdb, Config{MaxBatch: 8})
	const callers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for range callers {
		wg.Go(func() {
			for range each {
				if err := EvalSha(ctx, b, script.Hash(), []string{"n"}, 1).Err(); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, _ := rdb.Get(ctx, "n").Int(); v != callers*each {
		t.Fatalf("n = %d, want %d", v, callers*each)
	}
	plain, pipes := rec.counts()
	sent := plain
	for _, p := range pipes {
		sent += p
		if p > 8 {
			t.Fatalf("a pipeline of %d, above MaxBatch", p)
		}
	}
	if sent != callers*each {
		t.Fatalf("%d commands sent, want %d", sent, callers*each)
	}
	if b.inFlight != 0 || len(b.queue) != 0 {
		t.Fatal("batcher not idle after every call returned")
	}
}

// TestFailedRoundTripReachesEveryCaller: when the connection fails, every
// command of the batch reports it.
func TestFailedRoundTripReachesEveryCaller(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1})
	defer rdb.Close()
	rec := &recorder{}
	rdb.AddHook(rec)
	b := New(rdb, Config{MaxInFlight: 1})
	first, rest := behindOne(t, b, rec, 3)
	_, errs := first()
	_, more := rest()
	for _, err := range append(errs, more...) {
		if err == nil {
			t.Fatal("a command succeeded with no server")
		}
	}
}

// TestPanicWakesTheOthers: a round trip that panics (in a hook) panics in
// its sender only; the other callers of its batch get ErrPanicked, and the
// batcher goes on serving.
func TestPanicWakesTheOthers(t *testing.T) {
	rdb, rec := newClient(t)
	rec.panicKey = "boom"
	b := New(rdb, Config{MaxInFlight: 1})
	ctx := context.Background()
	held, release := rec.holdNext()
	first := startIncrs(b, ctx, "k", 1)
	<-held
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		_ = b.Do(ctx, redis.NewIntCmd(ctx, "incr", "boom")) // queued first: it sends the next batch
	}()
	queued(t, b, 1)
	others := startIncrs(b, ctx, "k", 2)
	queued(t, b, 3)
	release()
	first()
	if r := <-recovered; r == nil {
		t.Fatal("the sender of the panicking batch did not panic")
	}
	if _, errs := others(); !errors.Is(errs[0], ErrPanicked) || !errors.Is(errs[1], ErrPanicked) {
		t.Fatalf("the batch's other callers got %v, want ErrPanicked", errs)
	}
	cmd := redis.NewIntCmd(ctx, "incr", "k")
	if err := b.Do(ctx, cmd); err != nil || cmd.Val() != 2 {
		t.Fatalf("after the panic: incr = %d, %v; want 2 (the batcher serves again)", cmd.Val(), err)
	}
}
