// Package rediscluster starts a real Redis Cluster for tests: primaries and
// replicas as redis-server processes on free loopback ports (each with its
// cluster bus port picked too), joined with `redis-cli --cluster create`,
// and waited for until every node reports cluster_state:ok and agrees on
// the slot map. Everything is stopped, and its files removed, at the test's
// cleanup.
//
// Tests that call Start are skipped, with the reason, when redis-server or
// redis-cli is not installed; .ci/run installs both (Debian's redis-server
// package brings redis-tools).
//
// A *Cluster is safe for concurrent use once Start returned; Kill and
// Restart of one node must not race with each other.
package rediscluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsnode/wsnode/internal/freeport"
)

// Node is one redis-server of the cluster.
type Node struct {
	Port    int // client port on 127.0.0.1
	BusPort int // cluster bus port

	dir  string
	bin  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  lockedBuffer
}

// lockedBuffer collects a process's output; exec writes it from its own
// goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Addr is the node's host:port.
func (n *Node) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port)) }

// Cluster is a running Redis Cluster.
type Cluster struct {
	Nodes []*Node // primaries first as created; roles change on failover
}

// Options tune Start; the zero value means 3 primaries without replicas.
type Options struct {
	Primaries int // default 3 (redis-cli needs at least 3)
	Replicas  int // replicas per primary; default 0
	// NodeTimeout is cluster-node-timeout: how long a primary must be
	// unreachable before its replica is promoted. Default 1 s.
	NodeTimeout time.Duration
}

// Start starts and joins a cluster with o's shape (see Options), or skips tb
// when the Redis binaries are missing. It fails tb if the cluster does not
// become healthy within 60 s.
func Start(tb testing.TB, o Options) *Cluster {
	tb.Helper()
	c := StartUncreated(tb, o)
	c.Create(tb, o)
	return c
}

func (n *Node) start(timeout time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	cmd := exec.Command(n.bin,
		"--port", strconv.Itoa(n.Port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(n.BusPort),
		"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", strconv.FormatInt(timeout.Milliseconds(), 10),
		"--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--loglevel", "warning", "--dir", n.dir)
	cmd.Stdout, cmd.Stderr = &n.log, &n.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server on %d: %w", n.Port, err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(n.done)
	return nil
}

// Kill stops the node with SIGKILL and waits for it to exit. Idempotent.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
	n.cmd = nil
}

// Restart starts a killed node again with its cluster config (it rejoins
// as it was, or as a replica of whoever took its slots).
func (n *Node) Restart(tb testing.TB) {
	tb.Helper()
	if err := n.start(time.Second); err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	if err := waitPing(n, 10*time.Second); err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
}

func waitPing(n *Node, timeout time.Duration) error {
	rdb := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %d not answering: %w", n.Port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addrs are the host:port of every node, seeds for a cluster client.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// URL is a go-redis ParseClusterURL seed list naming every node
// (redis://first?addr=second&addr=...).
func (c *Cluster) URL() string {
	addrs := c.Addrs()
	var b strings.Builder
	b.WriteString("redis://" + addrs[0])
	for i, a := range addrs[1:] {
		if i == 0 {
			b.WriteString("?")
		} else {
			b.WriteString("&")
		}
		b.WriteString("addr=" + a)
	}
	return b.String()
}

// Client returns a cluster client seeded with every node, closed at cleanup.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// WaitHealthy waits until every running node reports cluster_state:ok and
// all 16384 slots assigned, every replica is in sync with its primary (a
// replica that never synced cannot be promoted), and all of them name the
// same primaries.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = c.healthy(); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("cluster not healthy after %s: %w", timeout, last)
}

func (c *Cluster) healthy() error {
	var view string
	for _, n := range c.Nodes {
		n.mu.Lock()
		running := n.cmd != nil
		n.mu.Unlock()
		if !running {
			continue
		}
		info, primaries, err := nodeView(n)
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			return fmt.Errorf("node %d: not ok yet", n.Port)
		}
		if strings.Contains(info, "role:slave") && !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica %d: not in sync with its primary yet", n.Port)
		}
		if view == "" {
			view = primaries
		} else if view != primaries {
			return fmt.Errorf("node %d sees primaries %s, others %s", n.Port, primaries, view)
		}
	}
	return nil
}

// nodeView returns CLUSTER INFO and a canonical list of the primaries that
// serve slots, as one node sees them.
func nodeView(n *Node) (string, string, error) {
	rdb := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := rdb.ClusterInfo(ctx).Result()
	if err != nil {
		return "", "", err
	}
	repl, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return "", "", err
	}
	info += repl
	ranges, err := primaryRanges(ctx, rdb)
	if err != nil {
		return "", "", err
	}
	var ps []string
	for _, r := range ranges {
		ps = append(ps, fmt.Sprintf("%d-%d@%s", r.start, r.end, r.addr))
	}
	slices.Sort(ps)
	return info, strings.Join(ps, ","), nil
}

// slotRange is a range of slots and the address of the online primary
// that serves it.
type slotRange struct {
	start, end int64
	addr       string
}

// primaryRanges reads CLUSTER SHARDS from one node: the slot ranges of
// every shard with an online primary.
func primaryRanges(ctx context.Context, rdb *redis.Client) ([]slotRange, error) {
	shards, err := rdb.ClusterShards(ctx).Result()
	if err != nil {
		return nil, err
	}
	var out []slotRange
	for _, sh := range shards {
		for _, n := range sh.Nodes {
			if n.Role != "master" || n.Health != "online" {
				continue
			}
			addr := net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
			for _, s := range sh.Slots {
				out = append(out, slotRange{start: s.Start, end: s.End, addr: addr})
			}
		}
	}
	return out, nil
}

// PrimaryFor returns the node that serves key's slot as primary now.
func (c *Cluster) PrimaryFor(tb testing.TB, key string) *Node {
	tb.Helper()
	rdb := c.Client(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := rdb.MasterForKey(ctx, key)
	if err != nil {
		tb.Fatalf("rediscluster: primary for %q: %v", key, err)
	}
	addr := m.Options().Addr
	for _, n := range c.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	tb.Fatalf("rediscluster: primary %s of %q is not a node of this cluster", addr, key)
	return nil
}

// Log returns what the node printed (warnings and worse).
func (n *Node) Log() string { return n.log.String() }

// StartStandalone starts one plain (non-cluster) redis-server, for tests
// that need to tell the two apart, and returns its host:port. It is
// stopped at cleanup; tb is skipped when redis-server is missing.
func StartStandalone(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Skip("redis-server not found on PATH; skipping real-Redis test")
	}
	ports, err := freeport.Pick(1)
	if err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	n := &Node{Port: ports[0], dir: tb.TempDir(), bin: bin}
	cmd := exec.Command(bin, "--port", strconv.Itoa(n.Port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--loglevel", "warning", "--dir", n.dir)
	cmd.Stdout, cmd.Stderr = &n.log, &n.log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("rediscluster: start redis-server: %v", err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(n.done)
	tb.Cleanup(n.Kill)
	if err := waitPing(n, 10*time.Second); err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	return n.Addr()
}
