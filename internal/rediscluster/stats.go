package rediscluster

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Running reports whether the node's process is up (not killed).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// CommandCalls returns how many times command (lower case, e.g. "publish")
// ran on each running node since it started or since its stats were reset,
// from INFO commandstats (commands called by scripts included), keyed by
// the node's address; a node that never ran it has 0.
func (c *Cluster) CommandCalls(tb testing.TB, command string) map[string]int64 {
	tb.Helper()
	out := make(map[string]int64)
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		info, err := nodeInfo(n, "commandstats")
		if err != nil {
			tb.Fatalf("rediscluster: INFO commandstats of %s: %v", n.Addr(), err)
		}
		out[n.Addr()] = commandCalls(info, command)
	}
	return out
}

func nodeInfo(n *Node, section string) (string, error) {
	rdb := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return rdb.Info(ctx, section).Result()
}

// commandCalls parses "cmdstat_<command>:calls=N,..." out of INFO commandstats.
func commandCalls(info, command string) int64 {
	for line := range strings.Lines(info) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+command+":calls=")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ",")
		n, _ := strconv.ParseInt(num, 10, 64)
		return n
	}
	return 0
}
