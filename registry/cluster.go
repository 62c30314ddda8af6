package registry

import (
	"context"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
)

// Cluster mode (Config.Cluster): the layout and the ordered single-slot
// steps of docs/redis-cluster.md. Each public method of Registry dispatches
// here at its top; the single-mode code does not know about this file.
//
// Shared helpers live in this file: the test hook, the in-flight set that
// keeps dropStale off registrations under way, the NOSCRIPT-safe pipeline,
// key groups of one slot, the bucket-wide reads and the peak sample.

// step calls the test hook after step k of a cluster operation op; a
// non-nil error from it aborts the operation as a crash there would.
func (r *Registry) step(op string, k int) error {
	if r.failAfter == nil {
		return nil
	}
	return r.failAfter(op, k)
}

// begin marks ids as having a multi-step change under way in this process
// until the returned func is called: dropStale leaves them alone, because
// their record may simply not be written yet.
func (r *Registry) begin(ids ...string) func() {
	r.flightMu.Lock()
	for _, id := range ids {
		r.inFlight[id]++
	}
	r.markTouched(ids)
	r.flightMu.Unlock()
	return func() {
		r.flightMu.Lock()
		for _, id := range ids {
			if r.inFlight[id]--; r.inFlight[id] <= 0 {
				delete(r.inFlight, id)
			}
		}
		r.markTouched(ids)
		r.flightMu.Unlock()
	}
}

// markTouched records ids as changed during a running dropStale; flightMu
// is held.
func (r *Registry) markTouched(ids []string) {
	if r.watchers == 0 {
		return
	}
	for _, id := range ids {
		r.touched[id] = struct{}{}
	}
}

// watch starts recording which ids begin or end a change, until the
// returned func is called. dropStale reads a node's set and then the
// records; a change that started before and ended between the two reads
// is not in flight any more at the decision, but its record may have been
// read before it was written: such an id counts as busy too.
func (r *Registry) watch() func() {
	r.flightMu.Lock()
	if r.watchers++; r.touched == nil {
		r.touched = map[string]struct{}{}
	}
	r.flightMu.Unlock()
	return func() {
		r.flightMu.Lock()
		if r.watchers--; r.watchers == 0 {
			r.touched = nil
		}
		r.flightMu.Unlock()
	}
}

// busy reports whether a change of id is under way in this process, or
// began or ended since the oldest running watch began.
func (r *Registry) busy(id string) bool {
	r.flightMu.Lock()
	defer r.flightMu.Unlock()
	_, touched := r.touched[id]
	return r.inFlight[id] > 0 || touched
}

// smallPipe is the most commands cpipe sends one after another through
// r.batch instead of as one ClusterClient pipeline.
const smallPipe = 4

// cpipe runs fn in a pipeline (go-redis splits it per primary) and returns
// the commands and the first error other than redis.Nil. A pipeline of at
// most smallPipe commands goes through r.batch instead, one command after
// another (each shares a round trip with other callers' commands on its
// primary): a step's commands do not depend on each other, so any order
// is one a failed pipeline could leave, and a ClusterClient pipeline would
// cost a goroutine per primary. Scripts inside use
// EvalSha; on NOSCRIPT (fresh or restarted primary) every cluster script is
// loaded on every primary and the pipeline runs once more, which is safe
// because every step is idempotent (the only command that is not, the
// events' XADD, never shares a pipeline with a script).
func (r *Registry) cpipe(ctx context.Context, fn func(redis.Pipeliner)) ([]redis.Cmder, error) {
	run := func() ([]redis.Cmder, error) {
		pipe := r.rdb.Pipeline()
		fn(pipe)
		cmds := pipe.Cmds()
		if len(cmds) <= smallPipe { // each shares a round trip with other callers' (r.batch)
			var first error
			for _, c := range cmds {
				if err := r.batch.Do(ctx, c); err != nil && first == nil {
					first = err
				}
			}
			return cmds, pipeErr(cmds, first)
		}
		_, err := pipe.Exec(ctx)
		return cmds, pipeErr(cmds, err)
	}
	gen := r.loads.Load()
	cmds, err := run()
	if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return cmds, err
	}
	if err := r.loadClusterScripts(ctx, gen); err != nil {
		return nil, err
	}
	return run()
}

// loadClusterScripts loads every cluster script on every primary, once for
// all the callers that met NOSCRIPT at about the same time: after a
// failover to a replica with an empty script cache, or on a fresh cluster,
// every pipeline in flight meets NOSCRIPT at once, and each loading all 15
// scripts on every primary made thousands of SCRIPT LOADs. gen is the
// number of loads completed when the caller sent its pipeline: if one
// completed since, it covers this caller's NOSCRIPT and nothing is loaded.
func (r *Registry) loadClusterScripts(ctx context.Context, gen uint64) error {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	if r.loads.Load() != gen {
		return nil
	}
	for _, s := range clusterScripts {
		if err := s.Load(ctx, r.rdb).Err(); err != nil {
			return err
		}
	}
	r.loads.Add(1)
	return nil
}

// Keys of one slot, in the order the scripts take them.

func (r *Registry) cConnKeys(id string) []string {
	b := keyspace.Bucket(id)
	return []string{r.ck.Conn(id), r.ck.ConnRooms(id), r.ck.Conns(b), r.ck.Activity(b)}
}

func (r *Registry) cUserKeys(user string) []string {
	return []string{r.ck.User(user), r.ck.Users(keyspace.Bucket(user))}
}

func (r *Registry) cRoomKeys(room string) []string {
	return []string{r.ck.Room(room), r.ck.RoomMeta(room), r.ck.Rooms(keyspace.Bucket(room))}
}

func (r *Registry) cNodeKeys(node string) []string {
	return []string{r.ck.Node(node), r.ck.NodeConns(node), r.ck.Nodes(keyspace.Bucket(node))}
}

// buckets returns the names of every bucket of one index.
func buckets(name func(int) string) []string {
	out := make([]string, keyspace.Buckets)
	for b := range out {
		out[b] = name(b)
	}
	return out
}

// cRecord is what cConnReadScript reads of one connection.
type cRecord struct {
	exists                                   bool
	node, user, pending, inc, connectedAt, t string
	rooms                                    []string
}

func parseCRecord(v []any) cRecord {
	str := func(i int) string {
		if i < len(v) {
			s, _ := v[i].(string)
			return s
		}
		return ""
	}
	n, _ := v[0].(int64)
	rec := cRecord{exists: n == 1, node: str(1), user: str(2), pending: str(3), inc: str(4),
		connectedAt: str(5), t: str(6)}
	for i := 7; i < len(v); i++ {
		rec.rooms = append(rec.rooms, str(i))
	}
	return rec
}

// users returns the distinct non-empty users the record names (user and
// user_pending): the user sets a removal must leave.
func (c cRecord) users() []string {
	var out []string
	for _, u := range []string{c.user, c.pending} {
		if u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// cRead reads the records of ids, one pipeline.
func (r *Registry) cRead(ctx context.Context, ids []string) ([]cRecord, error) {
	return r.cReadAnd(ctx, ids, nil)
}

// cReadAnd reads the records of ids in one pipeline, which also carries
// what also (if not nil) queues: commands that do not depend on the
// records, in the same round trip.
func (r *Registry) cReadAnd(ctx context.Context, ids []string, also func(redis.Pipeliner)) ([]cRecord, error) {
	cmds := make([]*redis.Cmd, len(ids))
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		if also != nil {
			also(p)
		}
		for i, id := range ids {
			cmds[i] = cConnReadScript.EvalSha(ctx, p, r.cConnKeys(id)[:2])
		}
	}); err != nil {
		return nil, err
	}
	out := make([]cRecord, len(ids))
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil || len(v) == 0 {
			return nil, errOr(err, "read: empty reply")
		}
		out[i] = parseCRecord(v)
	}
	return out, nil
}

// sumCards returns the sum of SCARD over keys, one pipeline.
func (r *Registry) sumCards(ctx context.Context, keys []string) (int64, error) {
	sums, err := r.sumCardGroups(ctx, keys)
	if err != nil {
		return 0, err
	}
	return sums[0], nil
}

// sumCardGroups sums SCARD over each group of keys, all in one pipeline.
func (r *Registry) sumCardGroups(ctx context.Context, groups ...[]string) ([]int64, error) {
	cmds := make([][]*redis.IntCmd, len(groups))
	if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
		for g, keys := range groups {
			for _, k := range keys {
				cmds[g] = append(cmds[g], p.SCard(ctx, k))
			}
		}
	}); err != nil {
		return nil, err
	}
	out := make([]int64, len(groups))
	for g := range cmds {
		for _, c := range cmds[g] {
			out[g] += c.Val()
		}
	}
	return out, nil
}

// samplePeak raises the peak to active if it is higher and returns the peak.
func (r *Registry) samplePeak(ctx context.Context, active int64) (int64, error) {
	return cPeakScript.Run(ctx, r.rdb, []string{r.ck.Peak()}, active).Int64()
}

// scanBuckets returns the members of every set in keys, sorted and
// distinct: SSCAN pages of scanCount, one pipelined round per page depth
// (the first page of every bucket in one round trip, then the buckets that
// have more). Like scanSet, not a snapshot.
func (r *Registry) scanBuckets(ctx context.Context, keys []string) ([]string, error) {
	var out []string
	err := r.scanRounds(ctx, keys, func(p redis.Pipeliner, key string, cursor uint64) *redis.ScanCmd {
		return p.SScan(ctx, key, cursor, "", scanCount)
	}, func(page []string) { out = append(out, page...) })
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// scanHashBuckets returns the fields and values of every hash in keys,
// HSCAN pages as in scanBuckets.
func (r *Registry) scanHashBuckets(ctx context.Context, keys []string) (map[string]string, error) {
	out := map[string]string{}
	err := r.scanRounds(ctx, keys, func(p redis.Pipeliner, key string, cursor uint64) *redis.ScanCmd {
		return p.HScan(ctx, key, cursor, "", scanCount)
	}, func(page []string) {
		for i := 0; i+1 < len(page); i += 2 {
			out[page[i]] = page[i+1]
		}
	})
	return out, err
}

func (r *Registry) scanRounds(ctx context.Context, keys []string,
	scan func(redis.Pipeliner, string, uint64) *redis.ScanCmd, add func([]string)) error {
	type pending struct {
		key    string
		cursor uint64
	}
	todo := make([]pending, len(keys))
	for i, k := range keys {
		todo[i] = pending{key: k}
	}
	for len(todo) > 0 {
		cmds := make([]*redis.ScanCmd, len(todo))
		if _, err := r.cpipe(ctx, func(p redis.Pipeliner) {
			for i, t := range todo {
				cmds[i] = scan(p, t.key, t.cursor)
			}
		}); err != nil {
			return err
		}
		var next []pending
		for i, c := range cmds {
			page, cursor, err := c.Result()
			if err != nil {
				return err
			}
			add(page)
			if cursor != 0 {
				next = append(next, pending{key: todo[i].key, cursor: cursor})
			}
		}
		todo = next
	}
	return nil
}

// cCode reads a script's integer status from a reply that is either an
// integer or an array starting with one.
func cCode(c *redis.Cmd) (int64, []any, error) {
	v, err := c.Result()
	if err != nil {
		return 0, nil, err
	}
	switch v := v.(type) {
	case int64:
		return v, nil, nil
	case []any:
		if len(v) > 0 {
			n, ok := v[0].(int64)
			if ok {
				return n, v[1:], nil
			}
		}
	}
	return 0, nil, errOr(nil, "unexpected script reply")
}

type replyError string

func (e replyError) Error() string { return string(e) }

// errOr returns err, or an error saying what when err is nil.
func errOr(err error, what string) error {
	if err != nil {
		return err
	}
	return replyError(what)
}

// strs converts a script reply's tail to strings.
func strs(v []any) []string {
	out := make([]string, 0, len(v))
	for _, x := range v {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case int64:
			out = append(out, strconv.FormatInt(x, 10))
		}
	}
	return out
}
