package main

import (
	"context"
	"fmt"
	"time"
)

// serverSample is one reading of the server side: CPU and RSS of every
// node process (when PIDs are known) and Redis counters (when a Redis URL
// is known).
type serverSample struct {
	At    int64
	CPU   []float64 // seconds, per node
	RSS   []int64   // KiB, per node
	Idle  float64   // whole machine: idle, iowait and steal CPU seconds since boot
	CPUs  int       // CPUs counted in /proc/stat; 0 when it could not be read
	Redis *redisSample
}

// serverProbe takes serverSamples.
type serverProbe struct {
	pids  []int
	redis *redisProbe
	warn  func(string)
}

func newServerProbe(cfg *Config, warn func(string)) (*serverProbe, error) {
	p := &serverProbe{pids: cfg.PIDs, warn: warn}
	if cfg.RedisURL != "" {
		rp, err := newRedisProbe(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("-redis-url: %w", err)
		}
		p.redis = rp
	}
	return p, nil
}

func (p *serverProbe) Close() {
	if p.redis != nil {
		p.redis.Close()
	}
}

// sample reads everything it can; failures are reported through warn and
// leave zeros (or a nil Redis sample).
func (p *serverProbe) sample(ctx context.Context) serverSample {
	s := serverSample{At: time.Now().UnixNano(), CPU: make([]float64, len(p.pids)), RSS: make([]int64, len(p.pids))}
	for i, pid := range p.pids {
		var err error
		if s.CPU[i], err = procCPU(pid); err != nil {
			p.warn(fmt.Sprintf("cpu of pid %d: %v", pid, err))
		}
		if s.RSS[i], err = procRSS(pid); err != nil {
			p.warn(fmt.Sprintf("rss of pid %d: %v", pid, err))
		}
	}
	var err error
	if s.Idle, s.CPUs, err = cpuIdle(); err != nil {
		p.warn(fmt.Sprintf("/proc/stat: %v", err))
	}
	if p.redis != nil {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if s.Redis, err = p.redis.sample(rctx); err != nil {
			p.warn(fmt.Sprintf("redis INFO: %v", err))
		}
	}
	return s
}
