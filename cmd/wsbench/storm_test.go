package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestFullJitter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	if d := fullJitter(0, rng); d != 0 {
		t.Fatalf("no jitter: got %v", d)
	}
	var lo, hi bool
	for range 10000 {
		d := fullJitter(time.Second, rng)
		if d < 0 || d >= time.Second {
			t.Fatalf("jitter %v outside [0, 1s)", d)
		}
		lo = lo || d < 100*time.Millisecond
		hi = hi || d > 900*time.Millisecond
	}
	if !lo || !hi {
		t.Fatalf("jitter does not spread over [0, 1s): low %v high %v", lo, hi)
	}
}

func TestRetryAfter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	hdr := func(v string) *http.Response {
		r := &http.Response{StatusCode: 503, Header: http.Header{}}
		if v != "" {
			r.Header.Set("Retry-After", v)
		}
		return r
	}
	for _, c := range []struct {
		resp *http.Response
		base time.Duration
	}{{nil, time.Second}, {hdr("1"), time.Second}, {hdr("3"), 3 * time.Second}, {hdr(""), time.Second}, {hdr("soon"), time.Second}} {
		for range 1000 {
			if d := retryAfter(c.resp, rng); d < c.base || d >= c.base+time.Second {
				t.Fatalf("retryAfter = %v, want [%v, %v)", d, c.base, c.base+time.Second)
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	if s := summarize(nil); s != (durStats{}) {
		t.Fatalf("empty: %+v", s)
	}
	var ds []int64
	for i := 100; i >= 1; i-- { // 1..100 ms, unsorted
		ds = append(ds, int64(i)*int64(time.Millisecond))
	}
	s := summarize(ds)
	if s.N != 100 || s.P50MS != 50 || s.P99MS != 99 || s.MaxMS != 100 {
		t.Fatalf("1..100 ms: %+v", s)
	}
	if s := summarize([]int64{int64(1500 * time.Microsecond)}); s.P50MS != 1.5 || s.P99MS != 1.5 || s.MaxMS != 1.5 {
		t.Fatalf("one value: %+v", s)
	}
	// 3,000 rejoin times: the p99 is the 2,970th.
	ds = ds[:0]
	for i := 1; i <= 3000; i++ {
		ds = append(ds, int64(i)*int64(time.Millisecond))
	}
	if s := summarize(ds); s.P99MS != 2970 || s.P50MS != 1500 {
		t.Fatalf("1..3000: %+v", s)
	}
}

func TestLatencyInAndSeries(t *testing.T) {
	const ms = int64(time.Millisecond)
	drain := int64(10_000) * ms
	var ds []delivery
	for i := range int64(40) { // one delivery per 50 ms from 1 s before the drain
		lat := 2 * ms
		if i == 30 {
			lat = 80 * ms
		}
		ds = append(ds, delivery{sched: drain - 1000*ms + i*50*ms, lat: lat, undisturbed: true})
		ds = append(ds, delivery{sched: drain - 1000*ms + i*50*ms, lat: 500 * ms}) // a drained client: ignored
	}
	if s := latencyIn(ds, drain, drain+1000*ms, -1); s.N != 20 || s.MaxMS != 80 || s.P50MS != 2 {
		t.Fatalf("window: %+v", s)
	}
	if s := latencyIn(ds, drain-1000*ms, drain, -1); s.N != 20 || s.MaxMS != 2 {
		t.Fatalf("baseline: %+v", s)
	}
	if s := latencyIn(ds, drain, drain+1000*ms, 0); s.N != 20 {
		t.Fatalf("node 0: %+v", s)
	}
	if s := latencyIn(ds, drain, drain+1000*ms, 1); s.N != 0 {
		t.Fatalf("node 1 has no receivers: %+v", s)
	}
	rejoins := []int64{drain + 5*ms, drain + 10*ms, drain + 150*ms, drain + 5000*ms}
	refused := []int64{drain - 2000*ms, drain + 120*ms}
	lags := []sendLag{{sched: drain - 1000*ms, lag: 3 * ms}, {sched: drain - 950*ms, lag: 7 * ms}, {sched: drain + 500*ms, lag: 400 * ms}}
	s := buildSeries(drain, drain-1000*ms, drain+1000*ms, rejoins, refused, ds, lags)
	if s.SendLagMaxMS[0] != 7 || s.SendLagMaxMS[15] != 400 || s.SendLagMaxMS[1] != -1 {
		t.Fatalf("send lag per slice: %v", s.SendLagMaxMS)
	}
	if l := lagIn(lags, drain, drain+1000*ms); l.N != 1 || l.MaxMS != 400 {
		t.Fatalf("lag in the window: %+v", l)
	}
	if s.FromS != -1 || s.StepMS != 100 || len(s.Connects) != 20 {
		t.Fatalf("series shape: from %v step %v len %d", s.FromS, s.StepMS, len(s.Connects))
	}
	if s.Connects[10] != 2 || s.Connects[11] != 1 || sum(s.Connects) != 3 {
		t.Fatalf("connects: %v", s.Connects)
	}
	if s.Refused[11] != 1 || sum(s.Refused) != 1 {
		t.Fatalf("refused: %v", s.Refused)
	}
	if s.Delivers[0] != 2 || s.P99MS[0] != 2 || s.P99MS[15] != 80 {
		t.Fatalf("p99 per slice: %v (deliveries %v)", s.P99MS, s.Delivers)
	}
	if e := buildSeries(drain, drain, drain-ms, nil, nil, nil, nil); len(e.Connects) != 0 {
		t.Fatalf("empty span: %+v", e)
	}
}

func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}

func TestStormTargets(t *testing.T) {
	good := &stormResult{JitterMS: 1000, Drained: 3000, Rejoin: durStats{N: 3000, MaxMS: 1900}, Storm: durStats{N: 10, P99MS: 12}}
	for _, v := range stormTargets(good) {
		if !strings.HasPrefix(v, "met") {
			t.Fatalf("good jittered run: %q", v)
		}
	}
	slow := *good
	slow.Rejoin.MaxMS, slow.Storm.P99MS = 2100, 25
	for _, v := range stormTargets(&slow) {
		if !strings.HasPrefix(v, "NOT met") {
			t.Fatalf("slow jittered run: %q", v)
		}
	}
	b := &stormResult{Drained: 3000, Rejoin: durStats{N: 3000, MaxMS: 4000}, N503: 400}
	if v := stormTargets(b); len(v) != 1 || !strings.HasPrefix(v[0], "met") {
		t.Fatalf("unjittered run with only 503s: %v", v)
	}
	b.NotBack = 1
	if v := stormTargets(b); !strings.HasPrefix(v[0], "NOT met") {
		t.Fatalf("unjittered run with a client not back: %v", v)
	}
}

func TestParseStormFlags(t *testing.T) {
	c, err := parseStormFlags([]string{"-urls", "ws://a,ws://b,ws://c", "-pids", "1,2,3", "-secret", "s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.drain != 2 || c.jitter != time.Second || c.perNode != 3000 || c.members != 10 {
		t.Fatalf("defaults: %+v", c)
	}
	if every := time.Duration(float64(time.Second) * float64(c.members) / c.rate); every != 2*time.Millisecond {
		t.Fatalf("5k deliveries/s to rooms of 10: a message every %v", every)
	}
	for _, bad := range [][]string{
		{"-urls", "ws://a", "-pids", "1", "-secret", "s"},
		{"-urls", "ws://a,ws://b", "-pids", "1", "-secret", "s"},
		{"-urls", "ws://a,ws://b", "-pids", "1,2", "-secret", "s", "-drain", "3"},
		{"-urls", "ws://a,ws://b", "-pids", "1,2", "-secret", "s", "-pubs", "1"}, // 600 rooms > 128
	} {
		if _, err := parseStormFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestStormPlotAndTable(t *testing.T) {
	r := &stormResult{Label: "jitter", JitterMS: 1000, Drained: 3, Rejoin: durStats{N: 3, MaxMS: 900}, NodeCPU: []float64{0.5, 0.4},
		N503: 2, Series: stormSeries{FromS: -2, StepMS: 100, Connects: []int{0, 3, 1}, Refused: []int{0, 2, 0}, P99MS: []float64{1, -1, 3}}}
	r.Targets = stormTargets(r)
	var tbl, svg bytes.Buffer
	stormTable(&tbl, []*stormResult{r, r})
	if !strings.Contains(tbl.String(), "| drained clients back | 3 of 3 | 3 of 3 |") || !strings.Contains(tbl.String(), "0.50 + 0.40") {
		t.Fatalf("table:\n%s", tbl.String())
	}
	writeStormSVG(&svg, []*stormResult{r})
	if s := svg.String(); !strings.HasPrefix(s, "<svg") || !strings.HasSuffix(s, "</svg>\n") || strings.Count(s, "<polyline") != 3 {
		t.Fatalf("svg:\n%s", s)
	}
}

// stormFakeNode is a node for one client: it refuses the first refuse
// upgrades with 503 and Retry-After: 0, answers auth and join with
// "joined", and closes every socket with 1001 when drain is closed.
func stormFakeNode(t *testing.T, refuse int, drain <-chan struct{}) (string, *atomic.Int64) {
	var dials atomic.Int64
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dials.Add(1) <= int64(refuse) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for range 2 { // auth, join
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"joined","room":"r"}`))
		<-drain
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "node shutting down"), time.Now().Add(time.Second))
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), &dials
}

func TestStormClientReconnects(t *testing.T) {
	drain, never := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(never) })
	a, _ := stormFakeNode(t, 0, drain)
	b, bDials := stormFakeNode(t, 2, never)
	h := newStormHarness(&stormConfig{urls: []string{a, b}, drain: 0, jitter: 50 * time.Millisecond})
	c := &stormClient{h: h, node: 0, auth: []byte(`{}`), join: []byte(`{}`), rng: rand.New(rand.NewPCG(5, 6))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readyc := make(chan bool, 1)
	done := make(chan struct{})
	go func() { c.run(ctx, func(ok bool) { readyc <- ok }, time.Now().Add(5*time.Second)); close(done) }()
	if !<-readyc {
		t.Fatal("setup failed")
	}
	h.drainAt.Store(time.Now().UnixNano())
	close(drain)
	for deadline := time.Now().Add(10 * time.Second); h.rejoined.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not rejoined: 503s %d retries %d other %d", h.n503.Load(), h.retries.Load(), h.otherErrs.Load())
		}
	}
	if h.closed1001.Load() != 1 || h.n503.Load() != 2 || h.retries.Load() != 2 || h.otherErrs.Load() != 0 || bDials.Load() != 3 {
		t.Fatalf("1001 %d, 503s %d, retries %d, other %d, dials to the survivor %d; want 1, 2, 2, 0, 3",
			h.closed1001.Load(), h.n503.Load(), h.retries.Load(), h.otherErrs.Load(), bDials.Load())
	}
	if c.rejoinAt.Load() < c.closedAt.Load() || len(h.rejoins) != 1 || len(h.refused) != 2 {
		t.Fatalf("rejoin at %d before close at %d, rejoins %v, refused %v", c.rejoinAt.Load(), c.closedAt.Load(), h.rejoins, h.refused)
	}
	cancel()
	<-done
}

func TestErrKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "refused"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "reset"},
		{io.ErrUnexpectedEOF, "eof"},
		{&websocket.CloseError{Code: 1013}, "close 1013"},
		{fmt.Errorf("http 429: %w", websocket.ErrBadHandshake), "http 429"},
		{errors.New(`error frame: {"type":"error"}`), "error frame"},
		{errors.New("something else"), "something else"},
	} {
		if got := errKind(c.err); got != c.want {
			t.Errorf("errKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if s := fmtKinds(map[string]int64{"eof": 2, "timeout": 5, "reset": 2}); s != "timeout 5, eof 2, reset 2" {
		t.Errorf("fmtKinds: %q", s)
	}
}

func TestExpectedUndisturbed(t *testing.T) {
	ms := int64(time.Millisecond)
	// 9 receivers in rooms of 3 on 3 nodes, node 2 drained: every room has 2
	// undisturbed receivers. Messages every 10 ms from 0: [0, 100 ms) holds 10.
	if got := expectedUndisturbed(0, 10*time.Millisecond, 9, 3, 3, 2, 0, 100*ms); got != 20 {
		t.Fatalf("got %d, want 20", got)
	}
	// From 15 ms: messages at 20..90 ms, 8 of them.
	if got := expectedUndisturbed(0, 10*time.Millisecond, 9, 3, 3, 2, 15*ms, 100*ms); got != 16 {
		t.Fatalf("got %d, want 16", got)
	}
	// 4 receivers in rooms of 3: room 1 holds receiver 3 only (node 0), so
	// with node 0 drained rooms 0 and 1 have 2 and 0; messages at 0, 10, 20 ms.
	if got := expectedUndisturbed(0, 10*time.Millisecond, 4, 3, 3, 0, 0, 25*ms); got != 4 {
		t.Fatalf("got %d, want 4", got)
	}
}

func TestScanTS(t *testing.T) {
	f := []byte(`{"type":"message","room":"r","data":{"x":1},"msg_id":"m","ts":1764150000123}`)
	if v, ok := scanTS(f); !ok || v != 1764150000123 {
		t.Fatalf("scanTS = %d, %v", v, ok)
	}
	if _, ok := scanTS([]byte(`{"type":"pong"}`)); ok {
		t.Fatal("a frame without ts scanned")
	}
}

// TestStormChildReportsDrainedClients runs the drained clients' child
// process (the test binary, as TestMain dispatches it) against fake nodes:
// the parent learns of its joined client, tells it the drain time, and gets
// back the client's 1001 close, two 503s with their retries, and the rejoin.
func TestStormChildReportsDrainedClients(t *testing.T) {
	drain, never := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(never) })
	a, _ := stormFakeNode(t, 0, drain)
	b, bDials := stormFakeNode(t, 2, never)
	cfg, err := parseStormFlags([]string{"-urls", a + "," + b, "-pids", "1,2", "-secret", "s", "-drain", "1",
		"-per-node", "1", "-members", "1", "-pubs", "1", "-jitter", "50ms", "-timeout", "10s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs bytes.Buffer
	g, err := startChild(ctx, cfg, cfg.args, &logs)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, logs.String())
	}
	drainAt := time.Now().UnixNano()
	if err := g.drain(drainAt); err != nil {
		t.Fatalf("drain: %v", err)
	}
	close(drain)
	rep, err := g.wait(ctx, time.Time{})
	if err != nil {
		t.Fatalf("wait: %v\n%s", err, logs.String())
	}
	if rep.Clients != 1 || rep.back() != 1 || rep.Closed1001 != 1 || rep.N503 != 2 || rep.Retries != 2 || rep.OtherErrors != 0 {
		t.Fatalf("report %+v; want 1 client, back, one 1001, two 503s and two retries", rep)
	}
	if rep.ClosedAt[0] < drainAt || rep.RejoinAt[0] < rep.ClosedAt[0] || len(rep.Refused) != 2 || len(rep.Rejoins) != 1 || bDials.Load() != 3 {
		t.Fatalf("closed %d, rejoined %d (drain %d), refused %v, rejoins %v, survivor dials %d",
			rep.ClosedAt[0], rep.RejoinAt[0], drainAt, rep.Refused, rep.Rejoins, bDials.Load())
	}
	if err := g.stop(); err != nil {
		t.Fatalf("child exit: %v\n%s", err, logs.String())
	}
}

// TestStormChildFailsSetup: a child whose clients cannot connect says so,
// and startChild returns its message instead of waiting.
func TestStormChildFailsSetup(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "ws://" + ln.Addr().String() + "/ws"
	_ = ln.Close() // nothing listens: every dial is refused
	cfg, err := parseStormFlags([]string{"-urls", dead + "," + dead, "-pids", "1,2", "-secret", "s", "-drain", "1",
		"-per-node", "1", "-members", "1", "-pubs", "1", "-timeout", "500ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = startChild(ctx, cfg, cfg.args, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "could not connect") {
		t.Fatalf("err = %v, want the child's setup failure", err)
	}
}
