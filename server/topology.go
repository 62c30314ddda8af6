package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// topologyPoll is how often a node on Redis Cluster reads the slot map.
const topologyPoll = time.Second

// slotMapReader is the part of *redis.ClusterClient the watcher uses.
type slotMapReader interface {
	ClusterShards(ctx context.Context) *redis.ClusterShardsCmd
	ReloadState(ctx context.Context)
}

// topologyWatcher follows a Redis Cluster's slot map for one node. go-redis
// alone refreshes its own copy only every 10 s or on a MOVED reply, and a
// failed primary answers nothing, so after a failover the node would keep
// dialing the dead primary for up to 10 s. A promoted replica may also lack
// the newest writes of its shard (replication is asynchronous) while this
// node's heartbeat, on another shard, survived: the node would not notice
// that its connections or rooms are partly gone.
//
// So every topologyPoll the watcher reads CLUSTER SHARDS (Redis 7, which
// cluster mode requires); when the online primary of any shard changed
// since the last read, it reloads go-redis' slot map and calls reassert.
type topologyWatcher struct {
	rdb      slotMapReader
	reassert func()
	log      *slog.Logger
	last     string // fingerprint of the last slot map read
}

// run polls until ctx is done.
func (w *topologyWatcher) run(ctx context.Context) {
	t := time.NewTicker(topologyPoll)
	defer t.Stop()
	for {
		w.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check reads the slot map once and acts on a change. A failed read (the
// node asked may be the one that died) changes nothing.
func (w *topologyWatcher) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, topologyPoll)
	defer cancel()
	shards, err := w.rdb.ClusterShards(ctx).Result()
	if err != nil {
		return
	}
	fp := fingerprint(shards)
	if fp == w.last {
		return
	}
	changed := w.last != ""
	w.last = fp
	if !changed {
		return // the first read is the baseline
	}
	w.log.Warn("redis cluster: slot map changed; following it and re-asserting this node's state")
	w.rdb.ReloadState(ctx)
	w.reassert()
}

// fingerprint describes which online primary (by cluster node id) serves
// which slot ranges, in a canonical order; a shard without one is "none".
func fingerprint(shards []redis.ClusterShard) string {
	parts := make([]string, 0, len(shards))
	for _, sh := range shards {
		primary := "none"
		for _, n := range sh.Nodes {
			if n.Role == "master" && n.Health == "online" {
				primary = n.ID + "@" + n.Endpoint + ":" + strconv.FormatInt(n.Port, 10)
			}
		}
		for _, s := range sh.Slots {
			parts = append(parts, fmt.Sprintf("%d-%d=%s", s.Start, s.End, primary))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
