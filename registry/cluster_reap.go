package registry

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/cluster"
)

// cReap is Reap in cluster mode: the known nodes come from the node index
// buckets (cached as in single mode), their heartbeats are checked with one
// pipelined EXISTS each, and each dead node is evicted by cEvictAll.
func (r *Registry) cReap(ctx context.Context) ([]cluster.Conn, error) {
	ids, err := r.cOtherNodes(ctx)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	cmds := make([]*redis.IntCmd, len(ids))
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			cmds[i] = p.Exists(ctx, r.ck.Node(id))
		}
	}); err != nil {
		return nil, err
	}
	missing := make([]bool, len(ids))
	for i, c := range cmds {
		missing[i] = c.Val() == 0
	}
	dead := r.pastGrace(ids, missing)
	var all []cluster.Conn
	for _, id := range dead {
		conns, err := r.cEvictAll(ctx, id, "reap")
		all = append(all, conns...)
		if err != nil {
			return all, err
		}
		r.forget(id)
	}
	return all, nil
}

// pastGrace returns the nodes whose heartbeat is missing (missing[i] for
// ids[i]) and has been for at least ReapGrace, remembering when each
// missing one was first seen and forgetting those that beat again. With no
// grace (ReapGrace ≤ 0) every missing one is past it.
func (r *Registry) pastGrace(ids []string, missing []bool) []string {
	now := r.now()
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	if r.missing == nil {
		r.missing = map[string]time.Time{}
	}
	var dead []string
	for i, id := range ids {
		if !missing[i] {
			delete(r.missing, id)
			continue
		}
		first, seen := r.missing[id]
		if !seen {
			r.missing[id] = now
			first = now
		}
		if r.cfg.ReapGrace <= 0 || now.Sub(first) >= r.cfg.ReapGrace {
			dead = append(dead, id)
		}
	}
	for id := range r.missing {
		if !slices.Contains(ids, id) {
			delete(r.missing, id) // reaped, or gone from the index
		}
	}
	return dead
}

// cOtherNodes is otherNodes over the node index buckets.
func (r *Registry) cOtherNodes(ctx context.Context) ([]string, error) {
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	if r.known == nil || r.reapCalls%nodeListRefresh == 0 {
		ids, err := r.scanBuckets(ctx, buckets(r.ck.Nodes))
		if err != nil {
			return nil, err
		}
		sort.Strings(ids)
		r.known = removeString(ids, r.cfg.NodeID)
	}
	r.reapCalls++
	return append([]string(nil), r.known...), nil
}

// cEvictAll removes the connections of node in batches and then the node
// from its index bucket (mode "reap": a dead node, re-checking before each
// batch and at the end that its heartbeat is still missing, so a node that
// came back is left alone; mode "drain": this node leaving, its heartbeat
// deleted at the end). Members are read, not popped: an id leaves the
// node's set only as the last step of its removal (cRemove), so a crash
// anywhere leaves it for the next reaper. Concurrent reapers may work on
// the same ids; the connection step's atomic delete reports the record to
// exactly one of them, which alone returns the connection and appends its
// disconnect event.
func (r *Registry) cEvictAll(ctx context.Context, node, mode string) ([]cluster.Conn, error) {
	nk := r.cNodeKeys(node)
	var all []cluster.Conn
	for {
		if mode == "reap" {
			n, err := r.rdb.Exists(ctx, nk[0]).Result()
			if err != nil || n == 1 {
				return all, err // alive again: stop, never damage it
			}
		}
		ids, err := r.rdb.SRandMemberN(ctx, nk[1], evictBatch).Result()
		if err != nil {
			return all, err
		}
		if len(ids) > 0 {
			conns, err := r.cEvictBatch(ctx, node, mode, ids)
			all = append(all, conns...)
			if err != nil {
				return all, err
			}
		}
		left, err := cNodeDoneScript.Run(ctx, r.rdb, nk, node, mode).Int64()
		if err != nil || left <= 0 {
			return all, err
		}
	}
}

// cEvictBatch removes the connections ids of node's set: those whose record
// names node (or is gone) with cRemove, the others (moved to another node)
// only from the set.
func (r *Registry) cEvictBatch(ctx context.Context, node, mode string, ids []string) ([]cluster.Conn, error) {
	recs, err := r.cRead(ctx, ids)
	if err != nil {
		return nil, err
	}
	var rm, moved []string
	var rmRecs []cRecord
	for i, id := range ids {
		if n := recs[i].node; n == "" || n == node {
			rm, rmRecs = append(rm, id), append(rmRecs, recs[i])
		} else {
			moved = append(moved, id)
		}
	}
	var out []cluster.Conn
	events := func(res []removed) error {
		var evs []string
		for i, x := range res {
			if !x.existed {
				continue
			}
			c := cluster.Conn{ID: rm[i], NodeID: node, User: x.user, Type: x.kind}
			if len(x.rooms) > 0 {
				c.Rooms = x.rooms
			}
			out = append(out, c)
			if mode == "reap" && r.cfg.EventsStream != "" && x.user != "" {
				b, err := json.Marshal(cluster.Event{Type: cluster.EventDisconnect, TS: r.now().UnixMilli(),
					NodeID: node, ConnID: rm[i], User: x.user, ConnType: x.kind, Reason: "reaped"})
				if err != nil {
					return err
				}
				evs = append(evs, string(b))
			}
		}
		if len(evs) == 0 {
			return nil
		}
		_, err := r.cpipe(ctx, func(p redis.Pipeliner) {
			for _, ev := range evs {
				p.XAdd(ctx, &redis.XAddArgs{Stream: r.cfg.EventsStream, MaxLen: r.cfg.EventsMaxLen, Approx: true,
					Values: []any{cluster.EventField, ev}})
			}
		})
		return err
	}
	if len(rm) > 0 {
		if _, err := r.cRemove(ctx, mode, rm, rmRecs, node, events); err != nil {
			return out, err
		}
	}
	if len(moved) > 0 {
		if err := r.rdb.SRem(ctx, r.ck.NodeConns(node), anys(moved)...).Err(); err != nil {
			return out, err
		}
	}
	return out, nil
}
