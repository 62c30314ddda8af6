package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsnode/wsnode/cluster"
	"github.com/wsnode/wsnode/internal/keyspace"
)

// nodeJSON is the stored heartbeat value; times are unix ms.
type nodeJSON struct {
	ID             string  `json:"id"`
	Addr           string  `json:"addr,omitempty"`
	Version        string  `json:"version,omitempty"`
	StartedAt      int64   `json:"started_at"`
	LastSeen       int64   `json:"last_seen"`
	Connections    int     `json:"connections"`
	MessagesPerSec float64 `json:"messages_per_sec"`
	Inc            string  `json:"inc,omitempty"`         // incarnation of the writing process
	IntervalMS     int64   `json:"interval_ms,omitempty"` // the writer's heartbeat interval
	TTLMS          int64   `json:"ttl_ms,omitempty"`      // the key's TTL when written
}

func encodeNode(n Node, ttl time.Duration) ([]byte, error) {
	return json.Marshal(nodeJSON{
		ID: n.ID, Addr: n.Addr, Version: n.Version,
		StartedAt: ms(n.StartedAt), LastSeen: ms(n.LastSeen),
		Connections: n.Connections, MessagesPerSec: n.MessagesPerSec,
		Inc: n.Incarnation, IntervalMS: n.Interval.Milliseconds(), TTLMS: ttl.Milliseconds(),
	})
}

func decodeNode(id string, b []byte) (Node, error) {
	var j nodeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Node{ID: id}, err
	}
	return Node{
		ID: id, Addr: j.Addr, Version: j.Version,
		StartedAt: msTime(j.StartedAt), LastSeen: msTime(j.LastSeen),
		Connections: j.Connections, MessagesPerSec: j.MessagesPerSec, Alive: true,
		Incarnation: j.Inc, Interval: time.Duration(j.IntervalMS) * time.Millisecond,
	}, nil
}

// Heartbeat writes this node's heartbeat (n with ID = NodeID(), LastSeen =
// now and Incarnation = Incarnation()) with TTL HeartbeatTTL and, when that
// key was missing, adds the node to P:nodes with a second command (if that
// one fails, lost and the error are returned together, and Reassert adds the
// node). A zero n.Interval is recorded as HeartbeatTTL/3.
//
// lost reports that the caller must call Reassert now: the heartbeat key did
// not exist before the call (first beat, Redis flushed or restarted, or this
// node was reaped while cut off), or an earlier process with the same node
// id turned out to be dead, so its connections can now be dropped (see
// takeover). When the key held another live process's incarnation on two
// beats in a row, Heartbeat returns an error wrapping ErrNodeIDConflict
// although the beat was written.
func (r *Registry) Heartbeat(ctx context.Context, n Node) (lost bool, err error) {
	n.ID, n.LastSeen, n.Incarnation = r.cfg.NodeID, r.now(), r.inc
	if n.Interval <= 0 {
		n.Interval = r.cfg.HeartbeatTTL / 3
	}
	b, err := encodeNode(n, r.cfg.HeartbeatTTL)
	if err != nil {
		return false, wrap("heartbeat", err)
	}
	hb, index := r.keys.Node(n.ID), r.keys.Nodes()
	if r.cfg.Cluster {
		hb, index = r.ck.Node(n.ID), r.ck.Nodes(keyspace.Bucket(n.ID))
	}
	// One command per beat: SET ... GET returns the previous value, so a
	// missing key (lost) or another process's value is seen without a
	// script. Only a missing key (re-)adds the node to the node index.
	prev, err := r.rdb.SetArgs(ctx, hb, b, redis.SetArgs{TTL: r.cfg.HeartbeatTTL, Get: true}).Result()
	present := true
	switch {
	case errors.Is(err, redis.Nil):
		present = false
	case err != nil:
		return false, wrap("heartbeat", err)
	case prev == "":
		present = false
	}
	lost, conflict := r.takeover.observe(r.inc, present, prevIncarnation(prev))
	if !present {
		if err := r.rdb.SAdd(ctx, index, n.ID).Err(); err != nil {
			return true, wrap("heartbeat", err)
		}
	}
	if r.cfg.Cluster {
		// Registrations do not raise the peak in cluster mode: each beat
		// samples it (docs/redis-cluster.md, "Exactness").
		if _, err := r.cSample(ctx); err != nil {
			return lost, wrap("heartbeat", err)
		}
	}
	if conflict {
		return lost, wrap("heartbeat", ErrNodeIDConflict)
	}
	return lost, nil
}

// prevIncarnation extracts the incarnation from a stored heartbeat value;
// a value without one (an older release, garbage) gives "".
func prevIncarnation(v string) string {
	var j struct {
		Inc string `json:"inc"`
	}
	_ = json.Unmarshal([]byte(v), &j) // garbage is a foreign writer: ""
	return j.Inc
}

// Reassert re-registers this node's live connections (with user and rooms)
// in pipelined batches, then removes from the registry every connection of
// this node that is not in conns, so the registry matches the node.
//
// conns is a snapshot taken by the caller. A connection of this process that
// was registered concurrently (connected_at within HeartbeatTTL of this call)
// is not treated as stale; one that was unregistered concurrently may be
// re-created (node unregisters it again). A connection recorded by another
// process under the same node id (a crashed predecessor) is removed once
// Heartbeat has established that process is dead, whatever its age, and
// never while it may be alive. Register/Unregister may run concurrently. The node
// joins P:nodes first, even with no connections.
func (r *Registry) Reassert(ctx context.Context, conns []Conn) error {
	if r.cfg.Cluster {
		return wrap("reassert", r.cReassert(ctx, conns))
	}
	start := r.now()
	if err := r.rdb.SAdd(ctx, r.keys.Nodes(), r.cfg.NodeID).Err(); err != nil {
		return wrap("reassert", err)
	}
	held := make(map[string]struct{}, len(conns))
	for i := range conns {
		if err := normalize(&conns[i]); err != nil {
			return wrap("reassert", err)
		}
		held[conns[i].ID] = struct{}{}
	}
	for batch := range slices.Chunk(conns, reassertBatch) {
		if err := r.registerBatch(ctx, batch, start); err != nil {
			return wrap("reassert", err)
		}
	}
	return wrap("reassert", r.dropStale(ctx, held, start.Add(-r.cfg.HeartbeatTTL), r.takeover.dropForeign()))
}

func (r *Registry) registerBatch(ctx context.Context, batch []Conn, now time.Time) error {
	_, err := r.pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range batch {
			registerScript.EvalSha(ctx, p, nil, r.registerArgs(c, now)...)
		}
		return nil
	})
	return err
}

// dropStale removes ids in this node's set that are not in held: this
// process's own if registered before cutoff, other processes' if
// dropForeign.
func (r *Registry) dropStale(ctx context.Context, held map[string]struct{}, cutoff time.Time, dropForeign bool) error {
	ids, err := r.scanSet(ctx, r.keys.NodeConns(r.cfg.NodeID))
	if err != nil {
		return err
	}
	stale := notHeld(ids, held)
	for batch := range slices.Chunk(stale, reassertBatch) {
		args := make([]any, 0, 5+len(batch))
		args = append(args, r.cfg.Prefix, r.cfg.NodeID, ms(cutoff), r.inc, boolArg(dropForeign))
		for _, id := range batch {
			args = append(args, id)
		}
		if err := dropStaleScript.Run(ctx, r.rdb, nil, args...).Err(); err != nil {
			return err
		}
	}
	return nil
}

// Deregister removes every entry of this node: all its connections (as in
// Unregister), its connection set, its heartbeat and its P:nodes entry. Used
// on drain; stop heartbeating first, or the next beat re-adds the node.
func (r *Registry) Deregister(ctx context.Context) error {
	if r.cfg.Cluster {
		_, err := r.cEvictAll(ctx, r.cfg.NodeID, "drain")
		return wrap("deregister", err)
	}
	_, err := r.evictAll(ctx, r.cfg.NodeID, "drain")
	return wrap("deregister", err)
}

// evictAll runs evictScript in batches until the node's set is empty or, in
// reap mode, the node turns out to be alive. It returns the connections it
// removed.
func (r *Registry) evictAll(ctx context.Context, node, mode string) ([]cluster.Conn, error) {
	var removed []cluster.Conn
	for {
		res, err := evictScript.Run(ctx, r.rdb, nil, r.cfg.Prefix, node, evictBatch, mode,
			r.now().UnixMilli(), r.cfg.EventsStream, r.cfg.EventsMaxLen).Slice()
		if err != nil {
			return removed, err
		}
		conns, left, alive, err := parseEvicted(node, res)
		removed = append(removed, conns...)
		if err != nil || alive || left == 0 {
			return removed, err
		}
	}
}

// parseEvicted reads evictScript's reply.
func parseEvicted(node string, res []any) (conns []cluster.Conn, left int64, alive bool, err error) {
	if len(res) < 2 || (len(res)-2)%4 != 0 {
		return nil, 0, false, fmt.Errorf("evict: unexpected reply %v", res)
	}
	n, _ := res[0].(int64)
	left, _ = res[1].(int64)
	if n < 0 {
		return nil, 0, true, nil // alive again: stop, never damage it
	}
	for i := 2; i+3 < len(res); i += 4 {
		c := cluster.Conn{NodeID: node}
		c.ID, _ = res[i].(string)
		c.User, _ = res[i+1].(string)
		c.Type, _ = res[i+2].(string)
		if rooms, _ := res[i+3].(string); rooms != "" {
			c.Rooms = strings.Split(rooms, ",")
		}
		conns = append(conns, c)
	}
	return conns, left, false, nil
}

// notHeld returns the ids that are not in held, in order.
func notHeld(ids []string, held map[string]struct{}) []string {
	var out []string
	for _, id := range ids {
		if _, ok := held[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}
