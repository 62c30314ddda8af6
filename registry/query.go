package registry

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Conn returns the connection with id. ErrNotFound if it is not registered.
func (r *Registry) Conn(ctx context.Context, id string) (Conn, error) {
	if err := ValidateName("conn", id); err != nil {
		return Conn{}, wrap("conn", err)
	}
	read := r.conns
	if r.cfg.Cluster {
		read = r.cConns
	}
	conns, err := read(ctx, []string{id})
	if err != nil {
		return Conn{}, wrap("conn", err)
	}
	if len(conns) == 0 {
		return Conn{}, wrap("conn", ErrNotFound)
	}
	return conns[0], nil
}

func parseConn(id string, h map[string]string, rooms []string) Conn {
	in, _ := strconv.ParseInt(h["msgs_in"], 10, 64)
	out, _ := strconv.ParseInt(h["msgs_out"], 10, 64)
	sort.Strings(rooms)
	return Conn{
		ID: id, NodeID: h["node"], User: h["user"], Type: h["type"], State: h["state"], IP: h["ip"],
		ConnectedAt:     fromMS(h["connected_at"]),
		AuthenticatedAt: fromMS(h["authenticated_at"]),
		LastActivity:    fromMS(h["last_activity"]),
		MessagesIn:      in, MessagesOut: out,
		Rooms: rooms,
	}
}

// ConnNode returns the node holding connection id. ErrNotFound if it is not
// registered. One HGET: the hot path for routing to one connection.
func (r *Registry) ConnNode(ctx context.Context, id string) (string, error) {
	if err := ValidateName("conn", id); err != nil {
		return "", wrap("conn node", err)
	}
	if r.cfg.Cluster {
		node, err := r.cConnNode(ctx, id)
		return node, wrap("conn node", err)
	}
	node, err := r.rdb.HGet(ctx, r.keys.Conn(id), "node").Result()
	return node, wrap("conn node", err)
}

// Room returns the room's members, their distinct users and its metadata.
// ErrNotFound when it has no members. Not a snapshot: the members are read
// in pages (SSCAN) and a member leaving meanwhile may still be listed.
func (r *Registry) Room(ctx context.Context, name string) (Room, error) {
	if err := ValidateName("room", name); err != nil {
		return Room{}, wrap("room", err)
	}
	if r.cfg.Cluster {
		room, err := r.cRoom(ctx, name)
		return room, wrap("room", err)
	}
	// The members in pages, then their users and the room's metadata in
	// one pipeline: no single command holds Redis for a large room.
	ids, err := r.scanSet(ctx, r.keys.Room(name)) // sorted
	if err != nil {
		return Room{}, wrap("room", err)
	}
	if len(ids) == 0 {
		return Room{}, wrap("room", ErrNotFound)
	}
	users := make([]*redis.StringCmd, len(ids))
	var meta *redis.SliceCmd
	cmds, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			users[i] = p.HGet(ctx, r.keys.Conn(id), "user")
		}
		meta = p.HMGet(ctx, r.keys.RoomMeta(name), "created_at", "last_activity")
		return nil
	})
	if err := pipeErr(cmds, err); err != nil {
		return Room{}, wrap("room", err)
	}
	return roomOf(name, ids, users, meta), nil
}

// roomOf assembles a Room from its member ids, each member's user (HGET)
// and its metadata (HMGET created_at, last_activity), in either layout.
func roomOf(name string, ids []string, users []*redis.StringCmd, meta *redis.SliceCmd) Room {
	distinct := make([]string, 0, len(ids))
	for _, u := range users {
		if v := u.Val(); v != "" {
			distinct = append(distinct, v)
		}
	}
	slices.Sort(distinct)
	created, _ := meta.Val()[0].(string)
	last, _ := meta.Val()[1].(string)
	return Room{
		Name: name, ConnIDs: ids, Users: slices.Compact(distinct), Connections: len(ids),
		CreatedAt: fromMS(created), LastActivity: fromMS(last),
	}
}

// Rooms lists the rooms with at least one member, sorted by name.
func (r *Registry) Rooms(ctx context.Context) ([]RoomSummary, error) {
	if r.cfg.Cluster {
		rooms, err := r.cRooms(ctx)
		return rooms, wrap("rooms", err)
	}
	names, err := r.scanSet(ctx, r.keys.Rooms()) // sorted
	if err != nil {
		return nil, wrap("rooms", err)
	}
	cards := make([]*redis.IntCmd, len(names))
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			cards[i] = p.SCard(ctx, r.keys.Room(n))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("rooms", err)
	}
	out := make([]RoomSummary, 0, len(names))
	for i, n := range names {
		if c := cards[i].Val(); c > 0 {
			out = append(out, RoomSummary{Name: n, Connections: int(c)})
		}
	}
	return out, nil
}

// User returns the user's connections. ErrNotFound if it has none.
func (r *Registry) User(ctx context.Context, name string) (User, error) {
	if err := ValidateName("user", name); err != nil {
		return User{}, wrap("user", err)
	}
	if r.cfg.Cluster {
		u, err := r.cUser(ctx, name)
		return u, wrap("user", err)
	}
	ids, err := r.rdb.SMembers(ctx, r.keys.User(name)).Result()
	if err != nil {
		return User{}, wrap("user", err)
	}
	conns, err := r.conns(ctx, ids)
	if err != nil {
		return User{}, wrap("user", err)
	}
	if len(conns) == 0 {
		return User{}, wrap("user", ErrNotFound)
	}
	return User{Name: name, Conns: conns}, nil
}

// conns reads several connections in one pipeline, skipping missing ones.
func (r *Registry) conns(ctx context.Context, ids []string) ([]Conn, error) {
	sort.Strings(ids)
	hs := make([]*redis.MapStringStringCmd, len(ids))
	rs := make([]*redis.StringSliceCmd, len(ids))
	as := make([]*redis.StringCmd, len(ids))
	cmds, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			hs[i] = p.HGetAll(ctx, r.keys.Conn(id))
			rs[i] = p.SMembers(ctx, r.keys.ConnRooms(id))
			as[i] = p.HGet(ctx, r.keys.Activity(), id)
		}
		return nil
	})
	if err := pipeErr(cmds, err); err != nil {
		return nil, err
	}
	return connsOf(ids, hs, rs, as), nil
}

// UserConnCount returns the number of connections of the user (0 if none).
func (r *Registry) UserConnCount(ctx context.Context, name string) (int, error) {
	if err := ValidateName("user", name); err != nil {
		return 0, wrap("user conn count", err)
	}
	if r.cfg.Cluster {
		n, err := r.cUserConnCount(ctx, name)
		return n, wrap("user conn count", err)
	}
	n, err := r.rdb.SCard(ctx, r.keys.User(name)).Result()
	return int(n), wrap("user conn count", err)
}

// Nodes lists the known nodes sorted by id; nodes whose heartbeat is missing
// (dead, not yet reaped) have only ID set and Alive false.
func (r *Registry) Nodes(ctx context.Context) ([]Node, error) {
	if r.cfg.Cluster {
		nodes, err := r.cNodes(ctx)
		return nodes, wrap("nodes", err)
	}
	ids, err := r.rdb.SMembers(ctx, r.keys.Nodes()).Result()
	if err != nil {
		return nil, wrap("nodes", err)
	}
	sort.Strings(ids)
	cmds := make([]*redis.StringCmd, len(ids))
	all, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, r.keys.Node(id))
		}
		return nil
	})
	if err := pipeErr(all, err); err != nil {
		return nil, wrap("nodes", err)
	}
	return nodesOf(ids, cmds), nil
}

// Counts reads the cluster-wide totals in one pipeline.
func (r *Registry) Counts(ctx context.Context) (Counts, error) {
	if r.cfg.Cluster {
		c, err := r.cCounts(ctx)
		return c, wrap("counts", err)
	}
	var active, users, rooms, nodes *redis.IntCmd
	var peak *redis.StringCmd
	cmds, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		active = p.SCard(ctx, r.keys.Conns())
		peak = p.Get(ctx, r.keys.Peak())
		users = p.SCard(ctx, r.keys.Users())
		rooms = p.SCard(ctx, r.keys.Rooms())
		nodes = p.SCard(ctx, r.keys.Nodes())
		return nil
	})
	if err := pipeErr(cmds, err); err != nil {
		return Counts{}, wrap("counts", err)
	}
	pk, _ := peak.Int64()
	return Counts{Active: active.Val(), Peak: pk, Users: users.Val(), Rooms: rooms.Val(), Nodes: nodes.Val()}, nil
}

// Activity returns the last activity of every live connection in the
// cluster: the connection set and the activity hash, read in pages (SSCAN,
// HSCAN), plus one pipelined HGET per connection that has not been active
// since it registered.
func (r *Registry) Activity(ctx context.Context) (map[string]time.Time, error) {
	if r.cfg.Cluster {
		acts, err := r.cActivity(ctx)
		return acts, wrap("activity", err)
	}
	acts, err := r.scanHash(ctx, r.keys.Activity())
	if err != nil {
		return nil, wrap("activity", err)
	}
	ids, err := r.scanSet(ctx, r.keys.Conns())
	if err != nil {
		return nil, wrap("activity", err)
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
	all, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range quiet {
			cmds[i] = p.HGet(ctx, r.keys.Conn(id), "last_activity")
		}
		return nil
	})
	if err := pipeErr(all, err); err != nil {
		return nil, wrap("activity", err)
	}
	for i, id := range quiet {
		if v, err := cmds[i].Result(); err == nil {
			out[id] = fromMS(v)
		}
	}
	return out, nil
}

// NodeConnCount returns how many connections Redis records for this node:
// one SCARD, cheap enough to compare with the node's own count on a timer.
func (r *Registry) NodeConnCount(ctx context.Context) (int64, error) {
	if r.cfg.Cluster {
		n, err := r.cNodeConnCount(ctx)
		return n, wrap("node conn count", err)
	}
	n, err := r.rdb.SCard(ctx, r.keys.NodeConns(r.cfg.NodeID)).Result()
	return n, wrap("node conn count", err)
}

// pipeErr returns the first error of a pipeline other than redis.Nil (a
// missing key is an answer, not a failure). Pipelined reports only the
// first command error, so a Nil could hide a real failure behind it.
func pipeErr(cmds []redis.Cmder, err error) error {
	if err == nil {
		return nil
	}
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return e
		}
	}
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// nodesOf builds the Node of each id from its heartbeat GET, in either
// layout: a missing key is a dead node.
func nodesOf(ids []string, heartbeats []*redis.StringCmd) []Node {
	out := make([]Node, 0, len(ids))
	for i, id := range ids {
		n := Node{ID: id}
		if b, err := heartbeats[i].Bytes(); err == nil {
			n, _ = decodeNode(id, b) // a corrupt record still counts as alive
			n.Alive = true
		}
		out = append(out, n)
	}
	return out
}

// connsOf builds the connections that still have a record from their
// HGETALL, SMEMBERS of their rooms and HGET of their activity, in either
// layout; ids without a record are left out.
func connsOf(ids []string, hs []*redis.MapStringStringCmd, rs []*redis.StringSliceCmd, as []*redis.StringCmd) []Conn {
	out := make([]Conn, 0, len(ids))
	for i, id := range ids {
		if len(hs[i].Val()) > 0 {
			c := parseConn(id, hs[i].Val(), rs[i].Val())
			mergeActivity(&c, as[i].Val())
			out = append(out, c)
		}
	}
	return out
}
