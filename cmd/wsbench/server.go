package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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
	// Goroutines per node from its /metrics (go_goroutines); 0 when the
	// node's admin URL is not known (-admins) or could not be read.
	Goroutines []int64
}

// serverProbe takes serverSamples.
type serverProbe struct {
	pids   []int
	admins []string
	redis  *redisProbe
	warn   func(string)
}

func newServerProbe(cfg *Config, warn func(string)) (*serverProbe, error) {
	p := &serverProbe{pids: cfg.PIDs, admins: cfg.Admins, warn: warn}
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
	s.Goroutines = make([]int64, len(p.admins))
	for i, a := range p.admins {
		n, err := goroutines(ctx, a)
		if err != nil {
			p.warn(fmt.Sprintf("goroutines of %s: %v", a, err))
		}
		s.Goroutines[i] = n
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

// goroutines reads go_goroutines from a node's /metrics at admin (a base
// URL such as http://127.0.0.1:9090).
func goroutines(ctx context.Context, admin string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(admin, "/")+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseGoroutines(resp.Body)
}

// parseGoroutines finds the go_goroutines sample in a Prometheus text page.
func parseGoroutines(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no go_goroutines in /metrics")
}
