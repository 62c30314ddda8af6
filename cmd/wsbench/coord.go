package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// goLead is how far in the future the coordinator schedules the start, so
// that every worker has received "go" before it.
const goLead = 300 * time.Millisecond

// coordinator runs one scenario over cfg.Procs workers and measures the
// server around it.
type coordinator struct {
	cfg    *Config
	launch launcher
	log    io.Writer
	warns  []string
	killed atomic.Bool

	mu    sync.Mutex // guards links against killAll from a signal
	links []workerLink

	burst serverSample // idle: right after the last join, before Settle
}

// coordinate runs the configured scenario and returns its report.
func coordinate(ctx context.Context, cfg *Config, launch launcher, logw io.Writer) (*Report, error) {
	c := &coordinator{cfg: cfg, launch: launch, log: logw}
	probe, err := newServerProbe(cfg, c.warn)
	if err != nil {
		return nil, err
	}
	defer probe.Close()
	base := probe.sample(ctx)
	stop := context.AfterFunc(ctx, c.killAll) // interrupted: workers go at once
	defer stop()
	rep, err := c.runAll(ctx, probe, base)
	if err != nil {
		c.killAll()
	}
	c.closeAll()
	if err != nil {
		return nil, err
	}
	rep.Warnings = c.warns
	return rep, nil
}

// runAll starts the workers, measures, and tells the workers to exit.
func (c *coordinator) runAll(ctx context.Context, probe *serverProbe, base serverSample) (*Report, error) {
	if err := c.start(); err != nil {
		return nil, err
	}
	before, merged, after, err := c.measure(ctx, probe)
	if err != nil {
		return nil, err
	}
	c.broadcast(ctlMsg{Kind: kindExit})
	rep := buildReport(c.cfg, merged, base, before, after)
	if c.cfg.Scenario == scIdle {
		addBurst(rep, base, c.burst)
	}
	return rep, nil
}

// start launches the workers, sends them their init and waits until every
// one of them has set up its connections.
func (c *coordinator) start() error {
	for i := range c.cfg.Procs {
		l, err := c.launch(i)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.links = append(c.links, l)
		c.mu.Unlock()
		if err := l.Send(ctlMsg{Kind: kindInit, Worker: i, Config: c.cfg, Secret: c.cfg.Secret}); err != nil {
			return fmt.Errorf("init worker %d: %w", i, err)
		}
	}
	ready, err := c.collect(kindReady)
	if err != nil {
		return err
	}
	c.progressf("%s: %d workers ready, %d/%d sockets connected", c.cfg.Scenario, len(c.links), ready.Connected, ready.Attempted)
	return nil
}

// sampleLead is how long before the measured window the opening server
// sample is taken; the warm-up work it adds is ~0.01 % of a 30 s window.
const sampleLead = 3 * time.Millisecond

// measure sends "go" and takes the server samples that bound the window.
func (c *coordinator) measure(ctx context.Context, probe *serverProbe) (before serverSample, merged *WorkerResult, after serverSample, err error) {
	start := time.Now().Add(goLead).UnixNano()
	switch c.cfg.Scenario {
	case scIdle:
		c.burst = probe.sample(ctx)
		sleepUntil(ctx, time.Now().Add(c.cfg.Settle).UnixNano())
		before = probe.sample(ctx)
		start = time.Now().UnixNano()
	case scConnect:
		before = probe.sample(ctx)
	}
	if err = c.broadcast(ctlMsg{Kind: kindGo, Start: start}); err != nil {
		return
	}
	if c.cfg.publishes() {
		// Sampled just before the window, not at its start: the first
		// message of the window is published at that very instant and would
		// otherwise race the sample (runs showed 2999 PUBLISH for 3000).
		sleepUntil(ctx, start+int64(c.cfg.Warmup)-int64(sampleLead))
		before = probe.sample(ctx)
	}
	if merged, err = c.collect(kindResult); err != nil {
		return
	}
	after = before
	if c.cfg.Scenario != scIdle {
		after = probe.sample(ctx)
	}
	return
}

// collect waits for one message of kind from every worker and merges the
// results they carry.
func (c *coordinator) collect(kind string) (*WorkerResult, error) {
	merged := &WorkerResult{}
	for i, l := range c.links {
		m, err := l.Recv()
		switch {
		case err != nil:
			return nil, fmt.Errorf("worker %d: %w", i, err)
		case m.Kind == kindError:
			return nil, fmt.Errorf("worker %d: %s", i, m.Err)
		case m.Kind != kind || m.Result == nil:
			return nil, fmt.Errorf("worker %d: got %q, want %q", i, m.Kind, kind)
		}
		merged.Merge(m.Result)
	}
	return merged, nil
}

func (c *coordinator) broadcast(m ctlMsg) error {
	var errs []error
	for _, l := range c.links {
		errs = append(errs, l.Send(m))
	}
	return errors.Join(errs...)
}

// closeAll waits for every worker to exit (after "exit" or a kill).
func (c *coordinator) closeAll() {
	for i, l := range c.links {
		if err := l.Close(); err != nil && !c.killed.Load() {
			c.warn(fmt.Sprintf("worker %d exit: %v", i, err))
		}
	}
}

// killAll stops every worker at once; it may run concurrently with the
// coordinator's own calls.
func (c *coordinator) killAll() {
	c.killed.Store(true)
	c.mu.Lock()
	links := c.links
	c.mu.Unlock()
	for _, l := range links {
		l.Kill()
	}
}

func (c *coordinator) warn(s string) {
	c.warns = append(c.warns, s)
	c.logf("warning: %s", s)
}

// progressf logs a progress line when -v is set.
func (c *coordinator) progressf(format string, args ...any) {
	if c.cfg.Verbose {
		c.logf(format, args...)
	}
}

// logf logs a line that is always shown, such as a warning.
func (c *coordinator) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "wsbench: "+format+"\n", args...)
}
