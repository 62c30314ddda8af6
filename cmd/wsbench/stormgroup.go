package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wsnode/wsnode/auth"
)

// The clients of a storm run are two groups: the undisturbed receivers on
// the survivors, whose read times are the measured latency, and the drained
// node's receivers, which reconnect during the storm. With -split (the
// default) the drained group runs in a child process (stormchild.go), so
// that its 3,000 reconnects, handshakes and rejoins do not hold up the
// goroutines that read the undisturbed sockets and stamp the arrival: a
// runtime trace of the one-process generator showed those goroutines
// waiting to run p99 15 ms and up to 88 ms during a storm (bench/analysis.md).

// stormAuthFrames returns the auth frame for a user of the run.
func stormAuthFrames(cfg *stormConfig) (func(user string) ([]byte, error), error) {
	v, err := auth.NewVerifier(0, cfg.secret)
	if err != nil {
		return nil, err
	}
	return func(user string) ([]byte, error) {
		tok, err := v.Mint(user, auth.TypeUser, time.Hour)
		return []byte(`{"type":"auth","token":"` + tok + `"}`), err
	}, nil
}

// stormRoomName is the name of room r of the run.
func stormRoomName(cfg *stormConfig, r int) string { return fmt.Sprintf("%s-r%d", cfg.prefix, r) }

// connectClients connects the receivers i whose node (i % nodes) want
// accepts, cfg.concurrency at a time, and returns once each is joined or
// gave up (after cfg.timeout). Receiver i is on node i % nodes and in room i / members, so
// every room has members on every node. The clients run until ctx ends;
// wait returns when all have stopped. err reports receivers that could not
// connect (the clients that did are still running).
func connectClients(ctx context.Context, cfg *stormConfig, h *stormHarness, want func(node int) bool) (clients []*stormClient, wait func(), err error) {
	authFrame, err := stormAuthFrames(cfg)
	if err != nil {
		return nil, func() {}, err
	}
	n := cfg.perNode * len(cfg.urls)
	sem := make(chan struct{}, cfg.concurrency)
	var ready, all sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := range n {
		if !want(i % len(cfg.urls)) {
			continue
		}
		a, err := authFrame(fmt.Sprintf("%s-u%d", cfg.prefix, i))
		if err != nil {
			ready.Wait()
			return clients, all.Wait, err
		}
		c := &stormClient{h: h, i: i, node: i % len(cfg.urls), auth: a,
			join: []byte(`{"type":"join","room":"` + stormRoomName(cfg, i/cfg.members) + `"}`),
			rng:  rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
		clients = append(clients, c)
		sem <- struct{}{}
		ready.Add(1)
		all.Go(func() {
			c.run(ctx, func(ok bool) {
				if !ok {
					mu.Lock()
					failed++
					mu.Unlock()
				}
				<-sem
				ready.Done()
			}, time.Now().Add(cfg.timeout))
		})
	}
	ready.Wait()
	if failed > 0 {
		return clients, all.Wait, fmt.Errorf("%d receivers could not connect", failed)
	}
	return clients, all.Wait, nil
}

// drainedReport is the outcome of the drained node's clients: what
// runStorm reads from them, in this process or from the child.
type drainedReport struct {
	Clients           int              `json:"clients"`
	RejoinAt          []int64          `json:"rejoin_at"` // per client, unix ns; 0: not back
	ClosedAt          []int64          `json:"closed_at"` // per client, unix ns; 0: never closed
	Rejoins           []int64          `json:"rejoins"`   // unix ns of each rejoin, for the series
	Refused           []int64          `json:"refused"`   // unix ns of each 503
	N503              int64            `json:"n503"`
	Retries           int64            `json:"retries"`
	OtherErrors       int64            `json:"other_errors"`
	ErrorKinds        map[string]int64 `json:"error_kinds"`
	Closed1001        int64            `json:"closed_1001"`
	UndisturbedCloses int64            `json:"undisturbed_closes"` // closes before the drain signal
	SetupErrors       int64            `json:"setup_errors"`
}

// report collects the drained-group figures of h's clients.
func (h *stormHarness) report(clients []*stormClient) *drainedReport {
	r := &drainedReport{Clients: len(clients), N503: h.n503.Load(), Retries: h.retries.Load(),
		OtherErrors: h.otherErrs.Load(), Closed1001: h.closed1001.Load(), UndisturbedCloses: h.undisturbedCloses.Load(),
		SetupErrors: h.setupErrs.Load()}
	for _, c := range clients {
		r.RejoinAt = append(r.RejoinAt, c.rejoinAt.Load())
		r.ClosedAt = append(r.ClosedAt, c.closedAt.Load())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r.Rejoins = append([]int64(nil), h.rejoins...)
	r.Refused = append([]int64(nil), h.refused...)
	r.ErrorKinds = map[string]int64{}
	for k, v := range h.errKinds {
		r.ErrorKinds[k] = v
	}
	return r
}

// back counts the clients of r that rejoined.
func (r *drainedReport) back() int {
	n := 0
	for _, t := range r.RejoinAt {
		if t != 0 {
			n++
		}
	}
	return n
}

// drainedGroup is the drained node's clients, run in this process
// (localGroup) or in a child process (childGroup).
type drainedGroup interface {
	// drain tells the clients that the drain signal goes out at drainAt
	// (unix ns); it returns once they know.
	drain(drainAt int64) error
	// wait returns the group's report once every client is back, or at
	// deadline.
	wait(ctx context.Context, deadline time.Time) (*drainedReport, error)
	// pid is the child's process id (its CPU counts as the generator's),
	// 0 for a local group.
	pid() int
}

// localGroup runs the drained clients among the measuring ones.
type localGroup struct {
	h       *stormHarness
	clients []*stormClient
}

func (g *localGroup) drain(drainAt int64) error { g.h.drainAt.Store(drainAt); return nil }

func (g *localGroup) wait(ctx context.Context, deadline time.Time) (*drainedReport, error) {
	for g.h.rejoined.Load() < int64(len(g.clients)) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	return g.h.report(g.clients), ctx.Err()
}

func (g *localGroup) pid() int { return 0 }
