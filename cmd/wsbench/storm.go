package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"
)

// stormMain is "wsbench storm" (issue 16, point 3): -per-node receivers on
// each node in rooms of -members with publishers on the other nodes
// offering -rate deliveries/s; after -warmup and -baseline it sends SIGTERM
// to the -drain'th node (1-based; its -pids entry), whose clients, closed
// with 1001, reconnect round-robin to the other nodes after a full jitter
// of -jitter (0: at once) and rejoin their rooms. A 503 is retried after
// Retry-After plus 0-1 s. It reports the rejoin times from the signal
// (p50, p99, max), clients not back within -timeout, 503s and retries, the
// p99 of deliveries to the never-disconnected clients over the storm window
// (signal to last rejoin + 1 s), node and Redis CPU over that window, and
// writes the result with its per-100 ms series as JSON (-out) for
// "wsbench stormplot". With -split (the default), the drained node's
// clients run in a child process of their own (stormgroup.go), and this
// process holds the undisturbed receivers and the publishers; with
// -split=false one process holds every socket (9,000 + publishers, under
// the 20,000 open files a process may have).
//
//	wsbench storm -urls U1,U2,U3 -pids P1,P2,P3 -secret S -redis-url R -drain 3 -jitter 1s -out a.json
func stormMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseStormFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "wsbench storm:", err)
		}
		return 2
	}
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		// As the workers (main.go): no GC pause inside the measured window.
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(workerMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.role == roleDrained {
		if err := runDrainedChild(ctx, cfg, os.Stdin, stdout); err != nil {
			fmt.Fprintln(stderr, "wsbench storm (drained clients):", err)
			return 1
		}
		return 0
	}
	res, err := runStorm(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "wsbench storm:", err)
		return 1
	}
	printStorm(stdout, res)
	if cfg.out != "" {
		if err := writeJSON(cfg.out, res); err != nil {
			fmt.Fprintln(stderr, "wsbench storm:", err)
			return 1
		}
	}
	return 0
}

type stormConfig struct {
	urls                            []string
	pids                            []int
	secret, redisURL, label, out    string
	prefix                          string
	drain                           int // 0-based index into urls
	jitter, warmup, baseline        time.Duration
	timeout, tail                   time.Duration
	perNode, members, pubs, payload int
	concurrency                     int
	rate                            float64
	split                           bool     // the drained node's clients in a child process
	role                            string   // "" or roleDrained (the child)
	args                            []string // as given, for the child
}

// roleDrained is the -role of the child that holds the drained node's
// clients (stormchild.go).
const roleDrained = "drained"

func parseStormFlags(args []string, stderr io.Writer) (*stormConfig, error) {
	fs := flag.NewFlagSet("wsbench storm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &stormConfig{}
	urls := fs.String("urls", "", "comma-separated node URLs (at least 2)")
	pids := fs.String("pids", "", "comma-separated node PIDs, in -urls order (CPU, and the drained node's SIGTERM)")
	fs.StringVar(&c.secret, "secret", "", "the nodes' JWT secret")
	fs.StringVar(&c.redisURL, "redis-url", "", "the nodes' Redis, for its CPU (optional)")
	fs.StringVar(&c.label, "label", "", "the run's name in the result")
	fs.StringVar(&c.out, "out", "", "write the result JSON here")
	fs.StringVar(&c.prefix, "prefix", fmt.Sprintf("storm%04x", rand.IntN(1<<16)), "room and user name prefix")
	fs.IntVar(&c.drain, "drain", 0, "the node to drain, 1-based; 0: the last")
	fs.DurationVar(&c.jitter, "jitter", time.Second, "full jitter before each reconnect; 0: reconnect at once")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "traffic before the baseline")
	fs.DurationVar(&c.baseline, "baseline", 3*time.Second, "measured traffic before the drain")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "a receiver not joined this long after its first dial, or not back this long after the drain signal, failed")
	fs.DurationVar(&c.tail, "tail", time.Second, "the storm window ends this long after the last rejoin")
	fs.IntVar(&c.perNode, "per-node", 3000, "receivers per node")
	fs.IntVar(&c.members, "members", 10, "receivers per room (spread over the nodes)")
	fs.IntVar(&c.pubs, "pubs", 10, "publisher connections (on the survivors; each joins up to 128 rooms)")
	fs.IntVar(&c.payload, "payload", 128, "message data bytes")
	fs.IntVar(&c.concurrency, "concurrency", 100, "connects in flight while setting up")
	fs.Float64Var(&c.rate, "rate", 5000, "offered deliveries per second")
	fs.BoolVar(&c.split, "split", true, "run the drained node's clients in a child process, apart from the measuring clients")
	fs.StringVar(&c.role, "role", "", "internal: \"drained\" runs the drained node's clients for a parent")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.args = args
	if c.role != "" && c.role != roleDrained {
		return nil, fmt.Errorf("unknown -role %q", c.role)
	}
	c.urls = splitList(*urls)
	if c.drain == 0 {
		c.drain = len(c.urls)
	}
	for _, p := range splitList(*pids) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("bad pid %q", p)
		}
		c.pids = append(c.pids, n)
	}
	c.drain--
	switch {
	case len(c.urls) < 2 || c.secret == "":
		return nil, fmt.Errorf("need -urls (at least 2) and -secret")
	case len(c.pids) != len(c.urls):
		return nil, fmt.Errorf("need one -pids entry per URL (the drained node gets SIGTERM)")
	case c.drain < 0 || c.drain >= len(c.urls):
		return nil, fmt.Errorf("-drain must be 1..%d", len(c.urls))
	case c.perNode < 1 || c.members < 1 || c.pubs < 1 || c.rate <= 0 || c.concurrency < 1:
		return nil, fmt.Errorf("-per-node, -members, -pubs, -concurrency and -rate must be positive")
	case (c.perNode*len(c.urls)+c.members-1)/c.members > 128*c.pubs:
		return nil, fmt.Errorf("too many rooms for %d publishers (128 rooms each)", c.pubs)
	}
	return c, nil
}

// stormResult is one variant's outcome.
type stormResult struct {
	Label             string           `json:"label"`
	JitterMS          float64          `json:"jitter_ms"`
	Clients           int              `json:"clients"`
	Drained           int              `json:"drained"` // clients on the drained node
	RateOffered       float64          `json:"rate_offered"`
	Closed            durStats         `json:"closed"`      // drained clients' sockets ended, from the signal
	Closed1001        int64            `json:"closed_1001"` // of which with a 1001 close frame
	Rejoin            durStats         `json:"rejoin"`      // drained clients back, from the signal
	Reconnect         durStats         `json:"reconnect"`   // drained clients back, from their socket's end
	NotBack           int              `json:"not_back"`
	N503              int64            `json:"n503"`
	Retries           int64            `json:"retries"`
	OtherErrors       int64            `json:"other_errors"`
	ErrorKinds        map[string]int64 `json:"error_kinds,omitempty"`
	UndisturbedCloses int64            `json:"undisturbed_closes"`
	SetupErrors       int64            `json:"setup_errors"`
	PublishErrors     int              `json:"publish_errors"`
	WindowS           float64          `json:"window_s"`
	Baseline          durStats         `json:"baseline"`        // undisturbed latency before the drain
	Storm             durStats         `json:"storm"`           // undisturbed latency in the storm window
	StormByNode       []durStats       `json:"storm_by_node"`   // the same per survivor (its receivers)
	StormMissing      int              `json:"storm_missing"`   // undisturbed deliveries of the window not received by the end
	StormFromNode     durStats         `json:"storm_from_node"` // the window's undisturbed latency from the node's "ts" (ms resolution)
	StormSendLag      durStats         `json:"storm_send_lag"`  // the generator's send lag over the window
	NodeCPU           []float64        `json:"node_cpu"`        // cores, per survivor, over the window
	NodeRunWait       []float64        `json:"node_run_wait"`   // per survivor: its threads' run-queue wait, seconds per second of window
	GenRunWait        float64          `json:"generator_run_wait"`
	BaseNodeRunWait   []float64        `json:"base_node_run_wait"` // the same over the baseline, before the drain
	BaseGenRunWait    float64          `json:"base_generator_run_wait"`
	RedisCPU          float64          `json:"redis_cpu"`
	GenCPU            float64          `json:"generator_cpu"`
	IdleCPU           float64          `json:"idle_cpu"` // the machine's idle cores over the window
	Targets           []string         `json:"targets"`
	Series            stormSeries      `json:"series"`
}

// stormCPU is one reading of the survivors', Redis's and our own CPU time,
// and of the survivors' and our own run-queue wait (procRunDelay).
type stormCPU struct {
	nodes      []float64
	nodesWait  []float64
	genWait    float64
	redis, gen float64
	idle       float64 // seconds all CPUs were idle since boot (/proc/stat)
	at         time.Time
}

// sampleCPU reads the CPU times; child, if not 0, is the generator's child
// process (its CPU counts as the generator's).
func sampleCPU(ctx context.Context, cfg *stormConfig, rp *redisProbe, child int) stormCPU {
	s := stormCPU{at: time.Now(), gen: cpuSeconds()}
	s.genWait, _ = procRunDelay(os.Getpid())
	if child != 0 {
		v, _ := procCPU(child)
		w, _ := procRunDelay(child)
		s.gen, s.genWait = s.gen+v, s.genWait+w
	}
	s.idle, _, _ = cpuIdle()
	for i, pid := range cfg.pids {
		if i != cfg.drain {
			v, _ := procCPU(pid)
			w, _ := procRunDelay(pid)
			s.nodes = append(s.nodes, v)
			s.nodesWait = append(s.nodesWait, w)
		}
	}
	if rp != nil {
		if r, err := rp.sample(ctx); err == nil {
			s.redis = r.CPU
		}
	}
	return s
}

// runStorm sets up, drains and measures one variant.
func runStorm(ctx context.Context, cfg *stormConfig, logw io.Writer) (*stormResult, error) {
	var rp *redisProbe
	if cfg.redisURL != "" {
		p, err := newRedisProbe(cfg.redisURL)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		rp = p
	}
	authFrame, err := stormAuthFrames(cfg)
	if err != nil {
		return nil, err
	}
	n := cfg.perNode * len(cfg.urls)
	rooms := (n + cfg.members - 1) / cfg.members
	roomName := func(r int) string { return stormRoomName(cfg, r) }
	h := newStormHarness(cfg)
	h.recordFrom.Store(1 << 62)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()

	where := "this process"
	if cfg.split {
		where = "a child process"
	}
	fmt.Fprintf(logw, "storm %s: %d receivers (%d per node) in %d rooms, publishers on the survivors; drained clients in %s\n",
		cfg.label, n, cfg.perNode, rooms, where)
	var child *childGroup
	childErr := make(chan error, 1)
	if cfg.split {
		go func() {
			var err error
			child, err = startChild(cctx, cfg, cfg.args, logw)
			childErr <- err
		}()
	}
	measured := func(node int) bool { return !cfg.split || node != cfg.drain }
	clients, waitClients, err := connectClients(cctx, cfg, h, measured)
	defer func() { cancel(); waitClients() }() // on every return: no client left running
	var group drainedGroup
	if cfg.split {
		if cerr := <-childErr; cerr != nil {
			err = errors.Join(err, fmt.Errorf("drained clients: %w", cerr))
		} else {
			defer child.stop()
			group = child
		}
	} else {
		var drainedClients []*stormClient
		for _, c := range clients {
			if c.node == cfg.drain {
				drainedClients = append(drainedClients, c)
			}
		}
		group = &localGroup{h: h, clients: drainedClients}
	}
	if err != nil {
		return nil, err
	}
	var pubAuth [][]byte
	for k := range cfg.pubs {
		a, err := authFrame(fmt.Sprintf("%s-p%d", cfg.prefix, k))
		if err != nil {
			return nil, err
		}
		pubAuth = append(pubAuth, a)
	}
	pubs, err := dialPublishers(cctx, h, pubAuth, rooms, roomName)
	if err != nil {
		return nil, err
	}
	defer pubs.close()
	every := time.Duration(float64(time.Second) * float64(cfg.members) / cfg.rate)
	start := time.Now().Add(100 * time.Millisecond).UnixNano()
	pubErrs := make(chan int, 1)
	pctx, stopPub := context.WithCancel(cctx)
	defer stopPub()
	go func() { pubErrs <- pubs.pace(pctx, start, every, cfg.payload, roomName) }()
	fmt.Fprintf(logw, "storm %s: all connected; traffic %.0f deliveries/s, warm-up %s, baseline %s\n", cfg.label, cfg.rate, cfg.warmup, cfg.baseline)
	sleepCtx(ctx, cfg.warmup)
	cpuBase := sampleCPU(ctx, cfg, rp, group.pid())
	baseFrom := time.Now().UnixNano()
	h.recordFrom.Store(baseFrom)
	sleepCtx(ctx, cfg.baseline)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	cpu0 := sampleCPU(ctx, cfg, rp, group.pid())
	drainAt := time.Now().UnixNano()
	h.drainAt.Store(drainAt)
	if err := group.drain(drainAt); err != nil {
		return nil, fmt.Errorf("drained clients: %w", err)
	}
	if err := syscall.Kill(cfg.pids[cfg.drain], syscall.SIGTERM); err != nil {
		return nil, fmt.Errorf("SIGTERM to node %d (pid %d): %w", cfg.drain+1, cfg.pids[cfg.drain], err)
	}
	drained := cfg.perNode // receiver i is on node i % nodes
	fmt.Fprintf(logw, "storm %s: SIGTERM to node %d; %d clients to come back (jitter %s)\n", cfg.label, cfg.drain+1, drained, cfg.jitter)
	deadline := time.Unix(0, drainAt).Add(cfg.timeout)
	rep, err := group.wait(ctx, deadline)
	if err != nil {
		return nil, fmt.Errorf("drained clients: %w", err)
	}
	var rejoin, closed, reconnect []int64
	last := drainAt
	for k, t := range rep.RejoinAt {
		if t != 0 {
			rejoin = append(rejoin, t-drainAt)
			reconnect = append(reconnect, t-rep.ClosedAt[k])
			last = max(last, t)
		}
		if t := rep.ClosedAt[k]; t != 0 {
			closed = append(closed, t-drainAt)
		}
	}
	windowEnd := time.Unix(0, last).Add(cfg.tail)
	if len(rejoin) < drained {
		windowEnd = deadline
	}
	sleepCtx(ctx, time.Until(windowEnd))
	cpu1 := sampleCPU(ctx, cfg, rp, group.pid())
	sleepCtx(ctx, 3*time.Second) // deliveries scheduled in the window arrive
	stopPub()
	res := &stormResult{Label: cfg.label, JitterMS: float64(cfg.jitter.Milliseconds()), Clients: n, Drained: drained,
		RateOffered: cfg.rate, Rejoin: summarize(rejoin), Reconnect: summarize(reconnect), Closed: summarize(closed), Closed1001: rep.Closed1001, NotBack: drained - len(rejoin), PublishErrors: <-pubErrs,
		N503: rep.N503, Retries: rep.Retries, OtherErrors: rep.OtherErrors, ErrorKinds: rep.ErrorKinds,
		UndisturbedCloses: h.undisturbedCloses.Load(), SetupErrors: h.setupErrs.Load(),
		WindowS: float64(windowEnd.UnixNano()-drainAt) / 1e9}
	if cfg.split { // else h counted both groups
		res.UndisturbedCloses += rep.UndisturbedCloses
		res.SetupErrors += rep.SetupErrors
	}
	cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	res.Baseline = latencyIn(h.deliveries, baseFrom, drainAt, -1)
	res.Storm = latencyIn(h.deliveries, drainAt, windowEnd.UnixNano(), -1)
	for i := range cfg.urls {
		if i != cfg.drain {
			res.StormByNode = append(res.StormByNode, latencyIn(h.deliveries, drainAt, windowEnd.UnixNano(), i))
		}
	}
	res.StormMissing = expectedUndisturbed(start, every, n, cfg.members, len(cfg.urls), cfg.drain, drainAt, windowEnd.UnixNano()) - res.Storm.N
	wall := cpu1.at.Sub(cpu0.at).Seconds()
	for i := range cpu1.nodes {
		res.NodeCPU = append(res.NodeCPU, roundTo((cpu1.nodes[i]-cpu0.nodes[i])/wall, 2))
		res.NodeRunWait = append(res.NodeRunWait, roundTo((cpu1.nodesWait[i]-cpu0.nodesWait[i])/wall, 2))
	}
	res.GenRunWait = roundTo((cpu1.genWait-cpu0.genWait)/wall, 2)
	baseWall := cpu0.at.Sub(cpuBase.at).Seconds()
	for i := range cpu0.nodesWait {
		res.BaseNodeRunWait = append(res.BaseNodeRunWait, roundTo((cpu0.nodesWait[i]-cpuBase.nodesWait[i])/baseWall, 2))
	}
	res.BaseGenRunWait = roundTo((cpu0.genWait-cpuBase.genWait)/baseWall, 2)
	res.RedisCPU = roundTo((cpu1.redis-cpu0.redis)/wall, 2)
	res.GenCPU = roundTo((cpu1.gen-cpu0.gen)/wall, 2)
	res.IdleCPU = roundTo((cpu1.idle-cpu0.idle)/wall, 2)
	plotFrom := drainAt - int64(2*time.Second)
	res.Series = buildSeries(drainAt, plotFrom, windowEnd.UnixNano(), rep.Rejoins, rep.Refused, h.deliveries, pubs.lags)
	res.StormFromNode = fromNodeIn(h.deliveries, drainAt, windowEnd.UnixNano())
	res.StormSendLag = lagIn(pubs.lags, drainAt, windowEnd.UnixNano())
	res.Targets = stormTargets(res)
	return res, nil
}

func roundTo(v float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// printStorm prints one variant's summary.
func printStorm(w io.Writer, r *stormResult) {
	fmt.Fprintf(w, "storm %s (jitter %.0f ms): %d of %d drained clients back: p50 %.0f ms, p99 %.0f ms, max %.0f ms after the signal; not back %d\n",
		r.Label, r.JitterMS, r.Rejoin.N, r.Drained, r.Rejoin.P50MS, r.Rejoin.P99MS, r.Rejoin.MaxMS, r.NotBack)
	fmt.Fprintf(w, "  drained sockets ended (from the signal) p50 %.0f ms, max %.0f ms; %d of them with 1001\n", r.Closed.P50MS, r.Closed.MaxMS, r.Closed1001)
	fmt.Fprintf(w, "  from their socket's end: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n", r.Reconnect.P50MS, r.Reconnect.P99MS, r.Reconnect.MaxMS)
	fmt.Fprintf(w, "  503s %d, retries %d, other errors %d (%s), unexpected closes %d, setup errors %d, publish errors %d\n",
		r.N503, r.Retries, r.OtherErrors, fmtKinds(r.ErrorKinds), r.UndisturbedCloses, r.SetupErrors, r.PublishErrors)
	fmt.Fprintf(w, "  undisturbed deliveries: baseline p99 %.1f ms (n %d); storm window %.1f s: p50 %.1f ms, p99 %.1f ms, max %.1f ms (n %d, %d missing)\n",
		r.Baseline.P99MS, r.Baseline.N, r.WindowS, r.Storm.P50MS, r.Storm.P99MS, r.Storm.MaxMS, r.Storm.N, r.StormMissing)
	fmt.Fprintf(w, "    timed from the node's ts (without the generator's send lag): p50 %.1f ms, p99 %.1f ms, max %.1f ms (n %d)\n",
		r.StormFromNode.P50MS, r.StormFromNode.P99MS, r.StormFromNode.MaxMS, r.StormFromNode.N)
	fmt.Fprintf(w, "    generator's send lag over the window: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		r.StormSendLag.P50MS, r.StormSendLag.P99MS, r.StormSendLag.MaxMS)
	for i, d := range r.StormByNode {
		fmt.Fprintf(w, "    receivers on survivor %d: p50 %.1f ms, p99 %.1f ms, max %.1f ms (n %d)\n", i+1, d.P50MS, d.P99MS, d.MaxMS, d.N)
	}
	fmt.Fprintf(w, "  CPU over the window (cores): survivors %v, redis %.2f, generator %.2f, machine idle %.2f\n", r.NodeCPU, r.RedisCPU, r.GenCPU, r.IdleCPU)
	fmt.Fprintf(w, "  run-queue wait (threads waiting for a CPU, s per s) over the window: survivors %v, generator %.2f; over the baseline: %v, %.2f\n",
		r.NodeRunWait, r.GenRunWait, r.BaseNodeRunWait, r.BaseGenRunWait)
	for _, t := range r.Targets {
		fmt.Fprintln(w, "  target", t)
	}
}
