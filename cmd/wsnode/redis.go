package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// The Redis modes of --redis-mode.
const (
	modeSingle   = "single"   // one primary, --redis-url as in go-redis' ParseURL
	modeSentinel = "sentinel" // a primary found through Redis Sentinel (ParseFailoverURL)
	modeCluster  = "cluster"  // Redis Cluster, seed nodes (ParseClusterURL)
)

// clusterURLForm is the shape of a cluster-mode --redis-url, for error messages.
const clusterURLForm = "redis://[user:password@]node1:6379?addr=node2:6379&addr=node3:6379"

// sentinelURLForm is the shape of a sentinel-mode --redis-url, for error messages.
const sentinelURLForm = "redis://[user:password@]sentinel1:26379/0?master_name=NAME&addr=sentinel2:26379&addr=sentinel3:26379"

// checkRedisMode checks --redis-mode against --redis-url before anything
// starts. The URL itself is parsed by redisClient.
func checkRedisMode(mode, url string) error {
	switch mode {
	case modeSingle:
		return nil
	case modeSentinel:
		if url == "" {
			return errors.New("--redis-mode sentinel needs a --redis-url naming the sentinels: " + sentinelURLForm)
		}
		return nil
	case modeCluster:
		if url == "" {
			return errors.New("--redis-mode cluster needs a --redis-url naming seed nodes of the cluster: " + clusterURLForm)
		}
		return nil
	}
	return fmt.Errorf("--redis-mode must be single, sentinel or cluster, not %q", mode)
}

// minRedisPool is the least Redis connection pool a node gets when the URL
// sets no pool_size. go-redis defaults to 10 per GOMAXPROCS, so a node
// limited to one CPU had 10 connections, and a burst of connects (three
// registry calls each) queued for them: the pool's wait path (a timer and
// a park per call) cost ~5 % of node CPU in the connect benchmark. A node's
// Redis calls wait on round trips, not on CPU.
const minRedisPool = 32

// defaultPoolSize is the pool size of a URL without pool_size, in every mode.
func defaultPoolSize() int { return max(minRedisPool, 10*runtime.GOMAXPROCS(0)) }

// redisCheckTimeout bounds the start-up check of the Redis server (or of
// the sentinels).
const redisCheckTimeout = 5 * time.Second

// redisClient returns the node's Redis client for --redis-mode and
// --redis-url. A malformed URL, or a server of the wrong kind for the mode
// (a sentinel in single mode, a plain Redis in sentinel mode, a sentinel
// that does not know the master), is an error: the node must not start. A
// server that cannot be reached is not: the node starts unready and waits
// for it, as after an outage.
func (m *Main) redisClient(ctx context.Context) (redis.UniversalClient, func(), error) {
	if m.opts.redisURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("embedded redis: %w", err)
		}
		m.log.Warn("no --redis-url: using an embedded in-process Redis; this node cannot share state with others")
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		return rdb, func() { _ = rdb.Close(); mr.Close() }, nil
	}
	u, err := parseRedisURL(m.opts.redisMode, m.opts.redisURL)
	if err != nil {
		return nil, nil, err
	}
	var (
		rdb   redis.UniversalClient
		check func(context.Context) error
	)
	switch {
	case u.cluster != nil:
		if u.cluster.PoolSize == 0 { // not set by the URL's pool_size (per cluster node)
			u.cluster.PoolSize = defaultPoolSize()
		}
		rdb = redis.NewClusterClient(u.cluster)
		check = func(ctx context.Context) error { return m.checkCluster(ctx, u.cluster) }
	case u.failover != nil:
		if u.failover.PoolSize == 0 { // not set by the URL's pool_size
			u.failover.PoolSize = defaultPoolSize()
		}
		rdb = redis.NewFailoverClient(u.failover)
		check = func(ctx context.Context) error { return m.checkSentinels(ctx, u.failover) }
	default:
		if u.single.PoolSize == 0 { // not set by the URL's pool_size
			u.single.PoolSize = defaultPoolSize()
		}
		c := redis.NewClient(u.single)
		rdb = c
		check = func(ctx context.Context) error { return m.checkSingle(ctx, c, u.single.Addr) }
	}
	cctx, cancel := context.WithTimeout(ctx, redisCheckTimeout)
	defer cancel()
	if err := check(cctx); err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	return rdb, func() { _ = rdb.Close() }, nil
}

// checkSingle refuses a single-mode URL that names a sentinel, a Redis
// Cluster node or a read-only replica. An unreachable server, or one that
// does not answer INFO (ACLs), only gets a warning.
func (m *Main) checkSingle(ctx context.Context, rdb *redis.Client, addr string) error {
	if err := rdb.Ping(ctx).Err(); err != nil {
		m.log.Warn("redis not reachable yet; the node stays unready until it is", "err", err)
		return nil
	}
	info, err := rdb.Info(ctx).Result()
	if err != nil {
		m.log.Warn("could not check the Redis server's mode (INFO failed)", "err", err)
		return nil
	}
	f := infoFields(info)
	switch f["redis_mode"] {
	case "sentinel":
		return fmt.Errorf("--redis-mode single, but %s is a Redis Sentinel: use --redis-mode sentinel with a URL like %s", addr, sentinelURLForm)
	case "cluster":
		return fmt.Errorf("--redis-mode single, but %s is a Redis Cluster node: use --redis-mode cluster with a URL like %s", addr, clusterURLForm)
	}
	if f["role"] == "slave" {
		return fmt.Errorf("--redis-mode single, but %s is a read-only replica: point --redis-url at the primary, or use --redis-mode sentinel", addr)
	}
	return nil
}

// checkSentinels asks every sentinel of the URL, in parallel, where the
// master is (SENTINEL get-master-addr-by-name). A reachable address that
// does not know the command (not a sentinel), or a sentinel that does not
// know the master, is an error; when none answers the node starts unready
// (go-redis keeps asking).
func (m *Main) checkSentinels(ctx context.Context, fo *redis.FailoverOptions) error {
	return m.askSeeds(fo.SentinelAddrs, func(addr string) seedAnswer {
		c := redis.NewClient(&redis.Options{
			Addr: addr, Username: fo.SentinelUsername, Password: fo.SentinelPassword,
			TLSConfig: fo.TLSConfig, DialTimeout: 2 * time.Second, MaxRetries: -1, DialerRetries: 1,
			Protocol: 2, DisableIdentity: true, PoolSize: 1,
		})
		defer c.Close()
		res, err := c.Do(ctx, "SENTINEL", "get-master-addr-by-name", fo.MasterName).StringSlice()
		var rerr redis.Error
		switch {
		case errors.Is(err, redis.Nil):
			return seedAnswer{err: fmt.Errorf("--redis-url: the sentinel at %s monitors no master named %q (master_name)", addr, fo.MasterName)}
		case errors.As(err, &rerr) && strings.Contains(strings.ToLower(err.Error()), "unknown command"):
			return seedAnswer{err: fmt.Errorf("--redis-mode sentinel, but %s is not a Redis Sentinel (it answered SENTINEL with %q): list the sentinels in --redis-url (%s), or use --redis-mode single for a plain Redis", addr, err.Error(), sentinelURLForm)}
		case err != nil:
			return seedAnswer{unreachable: err} // network trouble, or NOAUTH and the like
		case len(res) == 2:
			return seedAnswer{found: net.JoinHostPort(res[0], res[1])}
		}
		return seedAnswer{}
	}, func(addr, primary string) {
		m.log.Info("redis sentinel: primary found", "master_name", fo.MasterName, "primary", primary, "sentinel", addr)
	}, "redis sentinel not reachable yet; the node stays unready until one answers")
}

// seedAnswer is what one address of --redis-url said to the start-up check.
type seedAnswer struct {
	found       string // a good answer: what it named ("" when it named nothing)
	err         error  // the server is of the wrong kind: refuse to start
	unreachable error  // it would not say
}

// askSeeds asks every address in parallel. Refusals are returned joined;
// otherwise good is called for the first address with a good answer, or,
// when none had one, each address is logged with unreachable as a warning
// (the node starts unready, and go-redis keeps trying).
func (m *Main) askSeeds(addrs []string, ask func(addr string) seedAnswer, good func(addr, found string), unreachable string) error {
	answers := make([]seedAnswer, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() { answers[i] = ask(addr) })
	}
	wg.Wait()
	var errs []error
	for _, a := range answers {
		errs = append(errs, a.err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, a := range answers {
		if a.found != "" {
			good(addrs[i], a.found)
			return nil
		}
	}
	for i, a := range answers {
		m.log.Warn(unreachable, "addr", addrs[i], "err", a.unreachable)
	}
	return nil
}

// redisTarget is a --redis-url parsed for its mode: exactly one field is set.
type redisTarget struct {
	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

// parseRedisURL reads url as mode prescribes (go-redis's ParseURL,
// ParseFailoverURL or ParseClusterURL); the errors name the expected form.
func parseRedisURL(mode, url string) (redisTarget, error) {
	switch mode {
	case modeCluster:
		co, err := redis.ParseClusterURL(url)
		if err != nil {
			return redisTarget{}, fmt.Errorf("--redis-url (--redis-mode cluster): %w; the form is %s", err, clusterURLForm)
		}
		return redisTarget{cluster: co}, nil
	case modeSentinel:
		fo, err := redis.ParseFailoverURL(url)
		if err != nil {
			return redisTarget{}, fmt.Errorf("--redis-url (--redis-mode sentinel): %w; the form is %s", err, sentinelURLForm)
		}
		if fo.MasterName == "" {
			return redisTarget{}, errors.New("--redis-url (--redis-mode sentinel) has no master_name: the form is " + sentinelURLForm)
		}
		return redisTarget{failover: fo}, nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		if msg := err.Error(); strings.Contains(msg, "unexpected option") &&
			(strings.Contains(msg, "master_name") || strings.Contains(msg, "addr")) {
			err = fmt.Errorf("%w (a Sentinel URL needs --redis-mode sentinel)", err)
		}
		return redisTarget{}, fmt.Errorf("--redis-url: %w", err)
	}
	return redisTarget{single: opt}, nil
}

// openRedis returns a client for url read as mode prescribes, with
// go-redis' defaults and no check of the server: for the tools beside the
// node (wsnode events).
func openRedis(mode, url string) (redis.UniversalClient, error) {
	u, err := parseRedisURL(mode, url)
	switch {
	case err != nil:
		return nil, err
	case u.cluster != nil:
		return redis.NewClusterClient(u.cluster), nil
	case u.failover != nil:
		return redis.NewFailoverClient(u.failover), nil
	}
	return redis.NewClient(u.single), nil
}

// minClusterVersion is the oldest Redis that cluster mode runs on: it needs
// sharded pub/sub (SSUBSCRIBE, SPUBLISH), new in 7.0.
const minClusterVersion = 7

// checkCluster asks the seed nodes, in parallel, for INFO. A reachable
// seed that is not a cluster node (cluster_enabled:0, or a sentinel), or
// that runs a Redis older than 7.0, is an error; when no seed answers the
// node starts unready (go-redis keeps trying).
func (m *Main) checkCluster(ctx context.Context, co *redis.ClusterOptions) error {
	return m.askSeeds(co.Addrs, func(addr string) seedAnswer {
		c := redis.NewClient(&redis.Options{
			Addr: addr, Username: co.Username, Password: co.Password, TLSConfig: co.TLSConfig,
			DialTimeout: 2 * time.Second, MaxRetries: -1, DialerRetries: 1, PoolSize: 1,
		})
		defer c.Close()
		info, err := c.Info(ctx, "server", "cluster").Result()
		if err != nil {
			return seedAnswer{unreachable: err}
		}
		return seedAnswer{found: addr, err: clusterSeedError(addr, infoFields(info))}
	}, func(addr, _ string) {
		m.log.Info("redis cluster: seed answered", "seed", addr)
	}, "redis cluster not reachable yet; the node stays unready until a seed answers")
}

// clusterSeedError checks one seed's INFO fields for cluster mode.
func clusterSeedError(addr string, f map[string]string) error {
	switch {
	case f["redis_mode"] == "sentinel":
		return fmt.Errorf("--redis-mode cluster, but %s is a Redis Sentinel: use --redis-mode sentinel with a URL like %s", addr, sentinelURLForm)
	case f["cluster_enabled"] != "1":
		return fmt.Errorf("--redis-mode cluster, but %s is not a Redis Cluster node (cluster_enabled:%s): use --redis-mode single for a plain Redis", addr, cmp.Or(f["cluster_enabled"], "0"))
	}
	if major, _, _ := strings.Cut(f["redis_version"], "."); major != "" {
		if v, err := strconv.Atoi(major); err == nil && v < minClusterVersion {
			return fmt.Errorf("--redis-mode cluster needs Redis 7.0 or newer (sharded pub/sub); %s runs %s", addr, f["redis_version"])
		}
	}
	return nil
}

// infoFields parses the "key:value" lines of an INFO reply.
func infoFields(info string) map[string]string {
	f := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok && !strings.HasPrefix(k, "#") {
			f[k] = v
		}
	}
	return f
}
