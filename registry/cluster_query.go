package registry

import (
	"context"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reads in cluster mode. One entity's keys are read as in single mode
// (under their cluster names); an index is its buckets, read together: one
// pipelined SCARD each for counts, pipelined SSCAN rounds for listings.

// cConns reads several connections in one pipeline, skipping missing ones.
func (r *Registry) cConns(ctx context.Context, ids []string) ([]Conn, error) {
	sort.Strings(ids)
	hs := make([]*redis.MapStringStringCmd, len(ids))
	rs := make([]*redis.StringSliceCmd, len(ids))
	as := make([]*redis.StringCmd, len(ids))
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			k := r.cConnKeys(id)
			hs[i] = p.HGetAll(ctx, k[0])
			rs[i] = p.SMembers(ctx, k[1])
			as[i] = p.HGet(ctx, k[3], id)
		}
	}); err != nil {
		return nil, err
	}
	return connsOf(ids, hs, rs, as), nil
}

func (r *Registry) cConnNode(ctx context.Context, id string) (string, error) {
	return r.rdb.HGet(ctx, r.ck.Conn(id), "node").Result()
}

// cRoom is Room in cluster mode: the members in pages, then their users and
// the room's metadata in one pipeline.
func (r *Registry) cRoom(ctx context.Context, name string) (Room, error) {
	ids, err := r.scanSet(ctx, r.ck.Room(name)) // sorted
	if err != nil {
		return Room{}, err
	}
	if len(ids) == 0 {
		return Room{}, ErrNotFound
	}
	users := make([]*redis.StringCmd, len(ids))
	var meta *redis.SliceCmd
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			users[i] = p.HGet(ctx, r.ck.Conn(id), "user")
		}
		meta = p.HMGet(ctx, r.ck.RoomMeta(name), "created_at", "last_activity")
	}); err != nil {
		return Room{}, err
	}
	return roomOf(name, ids, users, meta), nil
}

// cRooms lists the rooms of every room index bucket with their sizes.
func (r *Registry) cRooms(ctx context.Context) ([]RoomSummary, error) {
	names, err := r.scanBuckets(ctx, buckets(r.ck.Rooms)) // sorted
	if err != nil {
		return nil, err
	}
	cards := make([]*redis.IntCmd, len(names))
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, n := range names {
			cards[i] = p.SCard(ctx, r.ck.Room(n))
		}
	}); err != nil {
		return nil, err
	}
	out := make([]RoomSummary, 0, len(names))
	for i, n := range names {
		if c := cards[i].Val(); c > 0 {
			out = append(out, RoomSummary{Name: n, Connections: int(c)})
		}
	}
	return out, nil
}

func (r *Registry) cUser(ctx context.Context, name string) (User, error) {
	ids, err := r.rdb.SMembers(ctx, r.ck.User(name)).Result()
	if err != nil {
		return User{}, err
	}
	conns, err := r.cConns(ctx, ids)
	if err != nil {
		return User{}, err
	}
	if len(conns) == 0 {
		return User{}, ErrNotFound
	}
	return User{Name: name, Conns: conns}, nil
}

func (r *Registry) cUserConnCount(ctx context.Context, name string) (int, error) {
	n, err := r.rdb.SCard(ctx, r.ck.User(name)).Result()
	return int(n), err
}

// cNodes lists the nodes of every node index bucket with their heartbeats.
func (r *Registry) cNodes(ctx context.Context) ([]Node, error) {
	ids, err := r.scanBuckets(ctx, buckets(r.ck.Nodes)) // sorted
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.StringCmd, len(ids))
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, r.ck.Node(id))
		}
	}); err != nil {
		return nil, err
	}
	return nodesOf(ids, cmds), nil
}

// cCounts sums SCARD over the buckets of each index in one pipeline, then
// samples the active count into the peak and returns that peak.
func (r *Registry) cCounts(ctx context.Context) (Counts, error) {
	sums, err := r.sumCardGroups(ctx, buckets(r.ck.Conns), buckets(r.ck.Users),
		buckets(r.ck.Rooms), buckets(r.ck.Nodes))
	if err != nil {
		return Counts{}, err
	}
	peak, err := r.samplePeak(ctx, sums[0])
	if err != nil {
		return Counts{}, err
	}
	return Counts{Active: sums[0], Peak: peak, Users: sums[1], Rooms: sums[2], Nodes: sums[3]}, nil
}

// cActivity is Activity over the connection and activity buckets.
func (r *Registry) cActivity(ctx context.Context) (map[string]time.Time, error) {
	acts, err := r.scanHashBuckets(ctx, buckets(r.ck.Activity))
	if err != nil {
		return nil, err
	}
	ids, err := r.scanBuckets(ctx, buckets(r.ck.Conns))
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(ids))
	var quiet []string
	for _, id := range ids {
		var c Conn
		if v, ok := acts[id]; ok {
			mergeActivity(&c, v)
			out[id] = c.LastActivity
		} else {
			quiet = append(quiet, id)
		}
	}
	cmds := make([]*redis.StringCmd, len(quiet))
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, id := range quiet {
			cmds[i] = p.HGet(ctx, r.ck.Conn(id), "last_activity")
		}
	}); err != nil {
		return nil, err
	}
	for i, id := range quiet {
		if v, err := cmds[i].Result(); err == nil {
			out[id] = fromMS(v)
		}
	}
	return out, nil
}

func (r *Registry) cNodeConnCount(ctx context.Context) (int64, error) {
	return r.rdb.SCard(ctx, r.ck.NodeConns(r.cfg.NodeID)).Result()
}
