package registry

import (
	"context"
	"slices"
	"sort"

	"github.com/redis/go-redis/v9"
	"github.com/wsnode/wsnode/cluster"
)

// ReapDead removes every connection of nodes in P:nodes (other than this one)
// whose heartbeat key is missing, in batches of one script call each. Each
// call re-checks inside Lua that the heartbeat is still missing, so a node
// that comes back during reaping is never damaged (it sees lost=true on its
// next Heartbeat and re-asserts). A node whose set is empty leaves P:nodes.
// Idempotent and safe when several nodes reap the same dead node at once:
// each id is popped by exactly one script. Returns the number of
// connections removed by this call.
func (r *Registry) ReapDead(ctx context.Context) (int, error) {
	conns, err := r.Reap(ctx)
	return len(conns), err
}

// Reap is ReapDead returning the removed connections (ID, NodeID, User,
// Type and Rooms set): each one is returned by exactly one Reap call
// cluster-wide, so the caller may announce it once (presence leaves). With
// Config.EventsStream set, the disconnect event of each removed
// authenticated connection is appended inside the removing script.
func (r *Registry) Reap(ctx context.Context) ([]cluster.Conn, error) {
	if r.cfg.Cluster {
		conns, err := r.cReap(ctx)
		return conns, wrap("reap", err)
	}
	dead, err := r.deadNodes(ctx)
	if err != nil {
		return nil, wrap("reap", err)
	}
	var all []cluster.Conn
	for _, id := range dead {
		conns, err := r.evictAll(ctx, id, "reap")
		all = append(all, conns...)
		if err != nil {
			return all, wrap("reap", err)
		}
		r.forget(id)
	}
	return all, nil
}

// nodeListRefresh is how many ReapDead calls reuse one SMEMBERS of P:nodes.
// At the default 2 s reap interval a node that joined less than 10 s ago is
// seen late; one that is gone is dropped from the cache when reaped.
const nodeListRefresh = 5

// deadNodes lists the known nodes, other than this one, without a
// heartbeat (for ReapGrace, when set). In the common case (everyone alive) it costs one multi-key
// EXISTS, plus an SMEMBERS every nodeListRefresh calls.
func (r *Registry) deadNodes(ctx context.Context) ([]string, error) {
	ids, err := r.otherNodes(ctx)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.keys.Node(id)
	}
	if alive, err := r.rdb.Exists(ctx, keys...).Result(); err != nil {
		return nil, err
	} else if int(alive) == len(ids) {
		if r.cfg.ReapGrace > 0 {
			r.pastGrace(ids, make([]bool, len(ids))) // all alive: forget earlier sightings
		}
		return nil, nil
	}
	cmds := make([]*redis.IntCmd, len(ids))
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range ids {
			cmds[i] = p.Exists(ctx, keys[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	missing := make([]bool, len(ids))
	for i, c := range cmds {
		missing[i] = c.Val() == 0
	}
	return r.pastGrace(ids, missing), nil
}

// otherNodes returns the cached list of other nodes, refreshing it every
// nodeListRefresh calls.
func (r *Registry) otherNodes(ctx context.Context) ([]string, error) {
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	if r.known == nil || r.reapCalls%nodeListRefresh == 0 {
		ids, err := r.rdb.SMembers(ctx, r.keys.Nodes()).Result()
		if err != nil {
			return nil, err
		}
		sort.Strings(ids)
		r.known = removeString(ids, r.cfg.NodeID)
	}
	r.reapCalls++
	return slices.Clone(r.known), nil
}

// forget drops a reaped node from the cache.
func (r *Registry) forget(id string) {
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	r.known = removeString(r.known, id)
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}
