package registry

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
)

// Connection changes in cluster mode: each is a sequence of single-slot
// steps in the order of docs/redis-cluster.md. The node's connection set is
// written first and cleared last, so that whatever a failure leaves behind
// is reachable from it and is finished by Reap (dead node) or by
// Reassert's dropStale (live node). The step numbers are those the test hook
// (failAfter) sees.

// cRegister registers a batch of normalized connections of this node:
//
//	1 node slot: node index bucket, then nodeconns; in the same round trip
//	  (other slots, so in parallel) the records are read, to know what a
//	  re-registration replaces
//	2 old rooms no longer wanted, old users (user, user_pending) no longer wanted
//	3 connection slot: record, connrooms, connection index
//	4 user slot: user set, user index; room slots: member sets, metadata,
//	  room index (one round trip: both are reachable from the record)
//	5 an earlier node's nodeconns (the connection moved here)
func (r *Registry) cRegister(ctx context.Context, batch []Conn, now time.Time) error {
	const op = "register"
	ids := make([]string, len(batch))
	for i, c := range batch {
		ids[i] = c.ID
	}
	defer r.begin(ids...)()
	node := r.cfg.NodeID
	nk := r.cNodeKeys(node)
	add := append([]any{node}, anys(ids)...)
	recs, err := r.cReadAnd(ctx, ids, func(p redis.Pipeliner) {
		cNodeAddScript.EvalSha(ctx, p, []string{nk[2], nk[1]}, add...)
	})
	if err != nil {
		return err
	}
	if err := r.step(op, 1); err != nil {
		return err
	}
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, c := range batch {
			for _, room := range recs[i].rooms {
				if !slices.Contains(c.Rooms, room) {
					cRoomDropScript.EvalSha(ctx, p, r.cRoomKeys(room), room, c.ID, "")
				}
			}
			for _, u := range recs[i].users() {
				if u != c.User {
					cUserDropScript.EvalSha(ctx, p, r.cUserKeys(u), u, c.ID)
				}
			}
		}
	}); err != nil {
		return err
	}
	if err := r.step(op, 2); err != nil {
		return err
	}
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for _, c := range batch {
			args := []any{c.ID, node, c.User, c.Type, c.State, c.IP,
				ms(c.ConnectedAt), ms(c.AuthenticatedAt), ms(c.LastActivity),
				c.MessagesIn, c.MessagesOut, r.inc}
			cConnWriteScript.EvalSha(ctx, p, r.cConnKeys(c.ID)[:3], append(args, anys(c.Rooms)...)...)
		}
	}); err != nil {
		return err
	}
	if err := r.step(op, 3); err != nil {
		return err
	}
	at := ms(now)
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for _, c := range batch {
			if c.User != "" {
				cUserAddScript.EvalSha(ctx, p, r.cUserKeys(c.User), c.User, c.ID, 0)
			}
			for _, room := range c.Rooms {
				cRoomAddScript.EvalSha(ctx, p, r.cRoomKeys(room), room, c.ID, at, "0")
			}
		}
	}); err != nil {
		return err
	}
	if err := r.step(op, 4); err != nil {
		return err
	}
	_, err = r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, c := range batch {
			if old := recs[i].node; old != "" && old != node {
				p.SRem(ctx, r.ck.NodeConns(old), c.ID)
			}
		}
	})
	return err
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// cAuthenticate:
//
//	1 connection slot: user_pending = user, in the script that reads the
//	  record (ErrNotFound if gone). A user_pending left by an interrupted
//	  call for another user is first dropped from that user's set (user
//	  slot), and only then overwritten.
//	2 user slot: the limit check and the add, one script (retried once
//	  with the connections found dead excluded)
//	3 user slot: the connection leaves its earlier user
//	4 connection slot: user, type, state, authenticated_at; user_pending goes
func (r *Registry) cAuthenticate(ctx context.Context, connID, user, connType string, at time.Time) error {
	const op = "authenticate"
	defer r.begin(connID)()
	ck := r.cConnKeys(connID)[:1]
	pend := func(replace string) (code int64, old, pending string, err error) {
		code, rest, err := cCode(r.run(ctx, cConnPendingScript, ck, user, replace))
		if v := strs(rest); err == nil && len(v) == 2 {
			return code, v[0], v[1], nil
		}
		return 0, "", "", errOr(err, "pending: short reply")
	}
	code, old, stale, err := pend("")
	if err == nil && code == codeStalePending {
		// Drop the stale user's entry while user_pending still points at
		// it, then overwrite it.
		if err := r.run(ctx, cUserDropScript, r.cUserKeys(stale), stale, connID).Err(); err != nil {
			return err
		}
		code, old, _, err = pend(stale)
	}
	switch {
	case err != nil:
		return err
	case code == codeNotFound:
		return ErrNotFound
	case code != codeOK:
		return errOr(nil, "pending: user_pending changed meanwhile")
	}
	if err := r.step(op, 1); err != nil {
		return err
	}
	ok, err := r.cUserAdd(ctx, user, connID)
	if err != nil {
		return err
	}
	if !ok {
		if err := r.run(ctx, cConnUnpendScript, ck, user).Err(); err != nil {
			return err
		}
		return ErrUserLimit
	}
	if err := r.step(op, 2); err != nil {
		return err
	}
	if old != "" && old != user {
		if err := r.run(ctx, cUserDropScript, r.cUserKeys(old), old, connID).Err(); err != nil {
			return err
		}
	}
	if err := r.step(op, 3); err != nil {
		return err
	}
	code, err = r.run(ctx, cConnAuthScript, ck, user, connType, ms(at)).Int64()
	if err != nil {
		return err
	}
	if code != codeOK {
		// Removed meanwhile: take back the user entry, which nothing
		// would reach any more.
		if err := r.run(ctx, cUserDropScript, r.cUserKeys(user), user, connID).Err(); err != nil {
			return err
		}
		return ErrNotFound
	}
	return nil
}

// cUserAdd runs the limit-and-add script; when the user looks full it
// checks the other connections' liveness (their records and their nodes'
// heartbeats live in other slots) and runs it once more with the dead ones
// excluded. ok is false when the user is full of live connections.
func (r *Registry) cUserAdd(ctx context.Context, user, connID string) (ok bool, err error) {
	keys := r.cUserKeys(user)
	run := func(excluded []string) (int64, []any, error) {
		args := append([]any{user, connID, r.cfg.MaxConnsPerUser}, anys(excluded)...)
		return cCode(r.run(ctx, cUserAddScript, keys, args...))
	}
	code, others, err := run(nil)
	if err != nil || code == codeOK {
		return err == nil, err
	}
	dead, err := r.deadConns(ctx, strs(others))
	if err != nil {
		return false, err
	}
	if len(dead) == 0 {
		return false, nil
	}
	code, _, err = run(dead)
	return err == nil && code == codeOK, err
}

// deadConns returns the ids of ids that are not held by a live process, by
// the rules of connLive in scripts.go: the record must exist, its node's
// heartbeat must exist and carry the record's incarnation, and the
// heartbeat must not be older than 1.5 of its writer's intervals.
func (r *Registry) deadConns(ctx context.Context, ids []string) ([]string, error) {
	recs := make([]*redis.SliceCmd, len(ids))
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			recs[i] = p.HMGet(ctx, r.ck.Conn(id), "node", "inc")
		}
	}); err != nil {
		return nil, err
	}
	type beat struct {
		val  *redis.StringCmd
		pttl *redis.DurationCmd
	}
	beats := map[string]*beat{}
	for _, c := range recs {
		if node, _ := c.Val()[0].(string); node != "" && beats[node] == nil {
			beats[node] = &beat{}
		}
	}
	if len(beats) > 0 {
		if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
			for node, b := range beats {
				b.val = p.Get(ctx, r.ck.Node(node))
				b.pttl = p.PTTL(ctx, r.ck.Node(node))
			}
		}); err != nil {
			return nil, err
		}
	}
	var dead []string
	for i, c := range recs {
		node, _ := c.Val()[0].(string)
		inc, _ := c.Val()[1].(string)
		if node == "" || !beatLive(beats[node].val, beats[node].pttl, inc) {
			dead = append(dead, ids[i])
		}
	}
	return dead, nil
}

// beatLive applies connLive's rules to a heartbeat read with GET and PTTL.
func beatLive(val *redis.StringCmd, pttl *redis.DurationCmd, inc string) bool {
	hb, err := val.Result()
	if err != nil {
		return false
	}
	var rec struct {
		Inc        string   `json:"inc"`
		TTLMS      *float64 `json:"ttl_ms"`
		IntervalMS *float64 `json:"interval_ms"`
	}
	if json.Unmarshal([]byte(hb), &rec) != nil {
		return true
	}
	if inc != "" && rec.Inc != "" && rec.Inc != inc {
		return false
	}
	if rec.TTLMS != nil && rec.IntervalMS != nil && *rec.IntervalMS > 0 {
		if left := pttl.Val(); left >= 0 && *rec.TTLMS-float64(left.Milliseconds()) > *rec.IntervalMS*3/2 {
			return false
		}
	}
	return true
}

// cJoin: 1 connection slot (connrooms; ErrNotFound if the record is gone),
// 2 room slot.
func (r *Registry) cJoin(ctx context.Context, connID, room string, at time.Time) error {
	defer r.begin(connID)()
	code, err := r.run(ctx, cConnJoinScript, r.cConnKeys(connID)[:2], room).Int64()
	if err != nil {
		return err
	}
	if code != codeOK {
		return ErrNotFound
	}
	if err := r.step("join", 1); err != nil {
		return err
	}
	return r.run(ctx, cRoomAddScript, r.cRoomKeys(room), room, connID, ms(at), "1").Err()
}

// cLeave: 1 room slot, 2 connection slot (connrooms).
func (r *Registry) cLeave(ctx context.Context, connID, room string, at time.Time) error {
	if err := r.run(ctx, cRoomDropScript, r.cRoomKeys(room), room, connID, ms(at)).Err(); err != nil {
		return err
	}
	if err := r.step("leave", 1); err != nil {
		return err
	}
	return r.rdb.SRem(ctx, r.ck.ConnRooms(connID), room).Err()
}

func (r *Registry) cSetState(ctx context.Context, connID, state string) error {
	code, err := r.run(ctx, cSetStateScript, r.cConnKeys(connID)[:1], state).Int64()
	if err != nil {
		return err
	}
	if code != codeOK {
		return ErrNotFound
	}
	return nil
}

// cUnregister removes the connection with cRemove, from its record's node's
// set and this node's.
func (r *Registry) cUnregister(ctx context.Context, connID string) error {
	defer r.begin(connID)()
	recs, err := r.cRead(ctx, []string{connID})
	if err != nil {
		return err
	}
	_, err = r.cRemove(ctx, "unregister", []string{connID}, recs, r.cfg.NodeID, nil)
	return err
}

// removed is what the connection step of a removal found.
type removed struct {
	existed    bool
	user, kind string
	rooms      []string
}

// cRemove removes the connections ids (with their records recs, read
// before) in pipelined steps over the whole batch:
//
//	1 room slots: each room of connrooms (the last member deletes the
//	  metadata and the index entry); user slots: user and user_pending (the
//	  last connection leaves the index). One round trip: the record, deleted
//	  only in step 2, names them all, so any part of it can be redone.
//	2 connection slot: record, connrooms, index, activity; afterDelete
//	  (if set) runs here with what it found
//	3 node slot: the id leaves the nodeconns of its record's node and of node
func (r *Registry) cRemove(ctx context.Context, op string, ids []string, recs []cRecord, node string,
	afterDelete func([]removed) error) ([]removed, error) {
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			for _, room := range recs[i].rooms {
				cRoomDropScript.EvalSha(ctx, p, r.cRoomKeys(room), room, id, "")
			}
			for _, u := range recs[i].users() {
				cUserDropScript.EvalSha(ctx, p, r.cUserKeys(u), u, id)
			}
		}
	}); err != nil {
		return nil, err
	}
	if err := r.step(op, 1); err != nil {
		return nil, err
	}
	dels := make([]*redis.Cmd, len(ids))
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			dels[i] = cConnDeleteScript.EvalSha(ctx, p, r.cConnKeys(id), id)
		}
	}); err != nil {
		return nil, err
	}
	out := make([]removed, len(ids))
	for i, c := range dels {
		code, rest, err := cCode(c)
		if err != nil {
			return nil, err
		}
		v := strs(rest)
		if len(v) < 2 {
			return nil, errOr(nil, "delete: short reply")
		}
		out[i] = removed{existed: code == 1, user: v[0], kind: v[1], rooms: v[2:]}
	}
	if afterDelete != nil {
		if err := afterDelete(out); err != nil {
			return out, err
		}
	}
	if err := r.step(op, 2); err != nil {
		return out, err
	}
	_, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			if n := recs[i].node; n != "" && n != node {
				p.SRem(ctx, r.ck.NodeConns(n), id)
			}
			if node != "" {
				p.SRem(ctx, r.ck.NodeConns(node), id)
			}
		}
	})
	return out, err
}

// cTouch writes activity into each connection's activity bucket. The
// buckets' HSETs (each of at most touchBatch fields) are sent in pipelines
// of at most touchBatch fields in all, one round trip each: as in single
// mode, no round trip holds a primary for much more than 0.1 ms, and a
// flush of few connections spread over many buckets is still one round
// trip, not one per bucket.
func (r *Registry) cTouch(ctx context.Context, conns []Activity) error {
	byBucket := map[int][]any{}
	for _, a := range conns {
		b := keyspace.Bucket(a.ConnID)
		byBucket[b] = append(byBucket[b], a.ConnID, packActivity(a))
	}
	type hset struct {
		key  string
		args []any
	}
	var round []hset
	fields := 0
	flush := func() error {
		if len(round) == 0 {
			return nil
		}
		_, err := r.cpipe(ctx, func(p redis.Pipeliner) {
			for _, h := range round {
				p.HSet(ctx, h.key, h.args...)
			}
		})
		round, fields = round[:0], 0
		return err
	}
	for b := range keyspace.Buckets {
		for batch := range slices.Chunk(byBucket[b], 2*touchBatch) {
			if fields+len(batch)/2 > touchBatch {
				if err := flush(); err != nil {
					return err
				}
			}
			round = append(round, hset{r.ck.Activity(b), batch})
			fields += len(batch) / 2
		}
	}
	return flush()
}

// fieldInt parses a record field; garbage and "" give 0.
func fieldInt(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}
