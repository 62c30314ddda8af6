package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/wsnode/wsnode/auth"
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
// "wsbench stormplot". One process holds every socket (9,000 + publishers,
// under the 20,000 open files a process may have).
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
}

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
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "a drained client not back this long after the signal failed")
	fs.DurationVar(&c.tail, "tail", time.Second, "the storm window ends this long after the last rejoin")
	fs.IntVar(&c.perNode, "per-node", 3000, "receivers per node")
	fs.IntVar(&c.members, "members", 10, "receivers per room (spread over the nodes)")
	fs.IntVar(&c.pubs, "pubs", 10, "publisher connections (on the survivors; each joins up to 128 rooms)")
	fs.IntVar(&c.payload, "payload", 128, "message data bytes")
	fs.IntVar(&c.concurrency, "concurrency", 100, "connects in flight while setting up")
	fs.Float64Var(&c.rate, "rate", 5000, "offered deliveries per second")
	if err := fs.Parse(args); err != nil {
		return nil, err
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
	RedisCPU          float64          `json:"redis_cpu"`
	GenCPU            float64          `json:"generator_cpu"`
	IdleCPU           float64          `json:"idle_cpu"` // the machine's idle cores over the window
	Targets           []string         `json:"targets"`
	Series            stormSeries      `json:"series"`
}

// stormCPU is one reading of the survivors', Redis's and our own CPU time.
type stormCPU struct {
	nodes      []float64
	redis, gen float64
	idle       float64 // seconds all CPUs were idle since boot (/proc/stat)
	at         time.Time
}

func sampleCPU(ctx context.Context, cfg *stormConfig, rp *redisProbe) stormCPU {
	s := stormCPU{at: time.Now(), gen: cpuSeconds()}
	s.idle, _, _ = cpuIdle()
	for i, pid := range cfg.pids {
		if i != cfg.drain {
			v, _ := procCPU(pid)
			s.nodes = append(s.nodes, v)
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
	v, err := auth.NewVerifier(0, cfg.secret)
	if err != nil {
		return nil, err
	}
	authFrame := func(user string) ([]byte, error) {
		tok, err := v.Mint(user, auth.TypeUser, time.Hour)
		return []byte(`{"type":"auth","token":"` + tok + `"}`), err
	}
	n := cfg.perNode * len(cfg.urls)
	rooms := (n + cfg.members - 1) / cfg.members
	roomName := func(r int) string { return fmt.Sprintf("%s-r%d", cfg.prefix, r) }
	h := newStormHarness(cfg)
	h.recordFrom.Store(1 << 62)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()

	fmt.Fprintf(logw, "storm %s: %d receivers (%d per node) in %d rooms, publishers on the survivors\n", cfg.label, n, cfg.perNode, rooms)
	clients := make([]*stormClient, n)
	sem := make(chan struct{}, cfg.concurrency)
	var ready, all sync.WaitGroup
	var failed sync.Mutex
	setupFailed := 0
	for i := range clients {
		a, err := authFrame(fmt.Sprintf("%s-u%d", cfg.prefix, i))
		if err != nil {
			return nil, err
		}
		// Receiver i is on node i % nodes and in room i / members, so every
		// room has members on every node.
		c := &stormClient{h: h, i: i, node: i % len(cfg.urls), auth: a,
			join: []byte(`{"type":"join","room":"` + roomName(i/cfg.members) + `"}`),
			rng:  rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
		clients[i] = c
		sem <- struct{}{}
		ready.Add(1)
		all.Go(func() {
			c.run(cctx, func(ok bool) {
				if !ok {
					failed.Lock()
					setupFailed++
					failed.Unlock()
				}
				<-sem
				ready.Done()
			}, time.Now().Add(20*time.Second))
		})
	}
	ready.Wait()
	defer func() { cancel(); all.Wait() }() // on every return: no client left running
	if setupFailed > 0 {
		return nil, fmt.Errorf("%d receivers could not connect", setupFailed)
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
	baseFrom := time.Now().UnixNano()
	h.recordFrom.Store(baseFrom)
	sleepCtx(ctx, cfg.baseline)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	cpu0 := sampleCPU(ctx, cfg, rp)
	drainAt := time.Now().UnixNano()
	h.drainAt.Store(drainAt)
	if err := syscall.Kill(cfg.pids[cfg.drain], syscall.SIGTERM); err != nil {
		return nil, fmt.Errorf("SIGTERM to node %d (pid %d): %w", cfg.drain+1, cfg.pids[cfg.drain], err)
	}
	drained := 0
	for _, c := range clients {
		if c.node == cfg.drain {
			drained++
		}
	}
	fmt.Fprintf(logw, "storm %s: SIGTERM to node %d; %d clients to come back (jitter %s)\n", cfg.label, cfg.drain+1, drained, cfg.jitter)
	deadline := time.Unix(0, drainAt).Add(cfg.timeout)
	for h.rejoined.Load() < int64(drained) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	var rejoin, closed, reconnect []int64
	last := drainAt
	for _, c := range clients {
		if t := c.rejoinAt.Load(); c.node == cfg.drain && t != 0 {
			rejoin = append(rejoin, t-drainAt)
			reconnect = append(reconnect, t-c.closedAt.Load())
			last = max(last, t)
		}
		if t := c.closedAt.Load(); c.node == cfg.drain && t != 0 {
			closed = append(closed, t-drainAt)
		}
	}
	windowEnd := time.Unix(0, last).Add(cfg.tail)
	if len(rejoin) < drained {
		windowEnd = deadline
	}
	sleepCtx(ctx, time.Until(windowEnd))
	cpu1 := sampleCPU(ctx, cfg, rp)
	sleepCtx(ctx, 3*time.Second) // deliveries scheduled in the window arrive
	stopPub()
	res := &stormResult{Label: cfg.label, JitterMS: float64(cfg.jitter.Milliseconds()), Clients: n, Drained: drained,
		RateOffered: cfg.rate, Rejoin: summarize(rejoin), Reconnect: summarize(reconnect), Closed: summarize(closed), Closed1001: h.closed1001.Load(), NotBack: drained - len(rejoin), PublishErrors: <-pubErrs,
		N503: h.n503.Load(), Retries: h.retries.Load(), OtherErrors: h.otherErrs.Load(),
		UndisturbedCloses: h.undisturbedCloses.Load(), SetupErrors: h.setupErrs.Load(),
		WindowS: float64(windowEnd.UnixNano()-drainAt) / 1e9}
	cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	res.ErrorKinds = h.errKinds
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
	}
	res.RedisCPU = roundTo((cpu1.redis-cpu0.redis)/wall, 2)
	res.GenCPU = roundTo((cpu1.gen-cpu0.gen)/wall, 2)
	res.IdleCPU = roundTo((cpu1.idle-cpu0.idle)/wall, 2)
	plotFrom := drainAt - int64(2*time.Second)
	res.Series = buildSeries(drainAt, plotFrom, windowEnd.UnixNano(), h.rejoins, h.refused, h.deliveries, pubs.lags)
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
	for _, t := range r.Targets {
		fmt.Fprintln(w, "  target", t)
	}
}
