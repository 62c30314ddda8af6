package main

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// redisSample is one reading of Redis's INFO commandstats and cpu.
type redisSample struct {
	Calls map[string]int64 // per command, e.g. "publish"
	CPU   float64          // used_cpu_user + used_cpu_sys, seconds
	// Shards holds each primary's own sample, by address, when the probe
	// reads a Redis Cluster; Calls and CPU are then their sums.
	Shards map[string]*redisSample
}

// redisProbe reads INFO from the Redis the nodes use: one server, or every
// primary of a Redis Cluster (a URL with addr= seeds, as the nodes'
// --redis-mode cluster reads it), summed.
type redisProbe struct {
	c  *redis.Client
	cc *redis.ClusterClient
}

func newRedisProbe(url string) (*redisProbe, error) {
	if strings.Contains(url, "addr=") {
		co, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, err
		}
		co.DisableIdentity = true
		return &redisProbe{cc: redis.NewClusterClient(co)}, nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DisableIdentity = true // no CLIENT SETINFO noise in commandstats
	return &redisProbe{c: redis.NewClient(opt)}, nil
}

func (p *redisProbe) Close() error {
	if p.cc != nil {
		return p.cc.Close()
	}
	return p.c.Close()
}

// sample reads the current counters (summed over a cluster's primaries).
func (p *redisProbe) sample(ctx context.Context) (*redisSample, error) {
	if p.cc == nil {
		txt, err := p.c.Info(ctx, "commandstats", "cpu").Result()
		if err != nil {
			return nil, err
		}
		return parseRedisInfo(txt), nil
	}
	sum := &redisSample{Calls: map[string]int64{}, Shards: map[string]*redisSample{}}
	var mu sync.Mutex
	err := p.cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		txt, err := c.Info(ctx, "commandstats", "cpu").Result()
		if err != nil {
			return err
		}
		s := parseRedisInfo(txt)
		mu.Lock()
		defer mu.Unlock()
		sum.Shards[c.Options().Addr] = s
		sum.CPU += s.CPU
		for k, v := range s.Calls {
			sum.Calls[k] += v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}

// parseRedisInfo reads lines such as
// "cmdstat_publish:calls=12,usec=34,..." and "used_cpu_sys:1.23".
func parseRedisInfo(txt string) *redisSample {
	s := &redisSample{Calls: map[string]int64{}}
	for _, line := range strings.Split(txt, "\n") {
		line = strings.TrimSpace(line)
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(key, "cmdstat_"):
			if n, ok := callsField(val); ok {
				s.Calls[strings.TrimPrefix(key, "cmdstat_")] = n
			}
		case key == "used_cpu_sys" || key == "used_cpu_user":
			f, _ := strconv.ParseFloat(val, 64)
			s.CPU += f
		}
	}
	return s
}

func callsField(val string) (int64, bool) {
	for _, kv := range strings.Split(val, ",") {
		if v, ok := strings.CutPrefix(kv, "calls="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// redisDelta is the difference between two samples, without the INFO
// calls this tool made itself.
func redisDelta(before, after *redisSample) (map[string]int64, int64) {
	d := map[string]int64{}
	var total int64
	for k, v := range after.Calls {
		if k == "info" {
			continue
		}
		if n := v - before.Calls[k]; n != 0 {
			d[k] = n
			total += n
		}
	}
	return d, total
}
