package registry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestLifecycleLeavesNoKeys(t *testing.T) {
	_, rdb := MustMiniredis(t)
	runLifecycle(t, rdb, "life")
}

// runLifecycle is shared with the real-redis test.
func runLifecycle(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	r := MustRegistry(t, rdb, "node-a", &Config{Prefix: prefix})
	k := r.Keys()
	mustBeat(t, r)
	mustRegister(t, r, Conn{ID: "c1", IP: "10.0.0.1"})
	mustRegister(t, r, Conn{ID: "c2", IP: "10.0.0.2"})
	noErr(t, r.Authenticate(ctx, "c1", "alice", TypeUser, t0.Add(1*time.Second)))
	noErr(t, r.Authenticate(ctx, "c2", "bob", TypeAIAssistant, t0.Add(2*time.Second)))
	for _, room := range []string{"lobby", "ops"} {
		noErr(t, r.Join(ctx, "c1", room, t0.Add(3*time.Second)))
	}
	noErr(t, r.Join(ctx, "c2", "lobby", t0.Add(4*time.Second)))

	wantKeys := sorted(k.Conn("c1"), k.Conn("c2"), k.ConnRooms("c1"), k.ConnRooms("c2"), k.Conns(),
		k.Peak(), k.User("alice"), k.User("bob"), k.Users(), k.Room("lobby"), k.Room("ops"),
		k.RoomMeta("lobby"), k.RoomMeta("ops"), k.Rooms(), k.Nodes(), k.Node("node-a"),
		k.NodeConns("node-a"))
	equal(t, "keys while connected (scripts and Keys agree)", allKeys(t, rdb), wantKeys)

	room, err := r.Room(ctx, "lobby")
	noErr(t, err)
	equal(t, "lobby", room, Room{Name: "lobby", ConnIDs: []string{"c1", "c2"}, Users: []string{"alice", "bob"},
		Connections: 2, CreatedAt: t0.Add(3 * time.Second), LastActivity: t0.Add(4 * time.Second)})

	u, err := r.User(ctx, "alice")
	noErr(t, err)
	equal(t, "alice", u, User{Name: "alice", Conns: []Conn{{ID: "c1", NodeID: "node-a", User: "alice",
		Type: TypeUser, State: StateAuthenticated, IP: "10.0.0.1", ConnectedAt: t0,
		AuthenticatedAt: t0.Add(1 * time.Second), Rooms: []string{"lobby", "ops"}}}})
	equal(t, "counts", counts(t, r), Counts{Active: 2, Peak: 2, Users: 2, Rooms: 2, Nodes: 1})
	node, err := r.ConnNode(ctx, "c2")
	noErr(t, err)
	equal(t, "conn node", node, "node-a")

	noErr(t, r.Leave(ctx, "c1", "ops", t0.Add(5*time.Second)))
	_, err = r.Room(ctx, "ops")
	isErr(t, err, ErrNotFound)
	equal(t, "rooms after leave", members(t, rdb, k.Rooms()), []string{"lobby"})
	noErr(t, r.Leave(ctx, "c1", "ops", t0.Add(5*time.Second))) // idempotent

	noErr(t, r.Unregister(ctx, "c1"))
	noErr(t, r.Unregister(ctx, "c2"))
	noErr(t, r.Unregister(ctx, "c2")) // idempotent
	equal(t, "keys after unregister", allKeys(t, rdb), sorted(k.Peak(), k.Nodes(), k.Node("node-a")))
	equal(t, "counts after", counts(t, r), Counts{Peak: 2, Nodes: 1})
	_, err = r.Conn(ctx, "c1")
	isErr(t, err, ErrNotFound)
	_, err = r.ConnNode(ctx, "c1")
	isErr(t, err, ErrNotFound)
	_, err = r.User(ctx, "alice")
	isErr(t, err, ErrNotFound)
}

func TestKeysAreUnambiguous(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	r := MustRegistry(t, rdb, "node-a", nil)
	k := r.Keys()
	mustRegister(t, r, Conn{ID: "c1"})
	mustRegister(t, r, Conn{ID: "c2"})
	// Names that look like suffixes of fixed keys.
	noErr(t, r.Authenticate(ctx, "c1", "peak", TypeUser, t0))
	noErr(t, r.Authenticate(ctx, "c2", "a", TypeUser, t0))
	noErr(t, r.Join(ctx, "c1", "conns", t0))
	noErr(t, r.Join(ctx, "c1", "users", t0))
	noErr(t, r.Join(ctx, "c2", "a", t0))

	equal(t, "P:conns holds only conn ids", members(t, rdb, k.Conns()), []string{"c1", "c2"})
	equal(t, "room conns", members(t, rdb, k.Room("conns")), []string{"c1"})
	equal(t, "P:users holds only users", members(t, rdb, k.Users()), []string{"a", "peak"})
	peak, err := rdb.Get(ctx, k.Peak()).Result()
	noErr(t, err)
	equal(t, "P:peak is still the peak", peak, "2")
	equal(t, "user peak", members(t, rdb, k.User("peak")), []string{"c1"})
	equal(t, "room a", members(t, rdb, k.Room("a")), []string{"c2"})
	equal(t, "user a", members(t, rdb, k.User("a")), []string{"c2"})
	if k.Room("a") == k.User("a") || k.Room("conns") == k.Conns() || k.User("peak") == k.Peak() {
		t.Fatal("keys collide")
	}
	equal(t, "counts", counts(t, r), Counts{Active: 2, Peak: 2, Users: 2, Rooms: 3, Nodes: 1})

	// Leaving room "a" must not touch user "a".
	noErr(t, r.Leave(ctx, "c2", "a", t0))
	equal(t, "user a after leave", members(t, rdb, k.User("a")), []string{"c2"})

	before := allKeys(t, rdb)
	for _, bad := range []string{"x:y", "conns:", ":peak", "a*", "{a}"} {
		var ne *NameError
		if err := r.Join(ctx, "c1", bad, t0); !errors.As(err, &ne) {
			t.Errorf("Join(%q) = %v, want *NameError", bad, err)
		}
		if err := r.Authenticate(ctx, "c1", bad, TypeUser, t0); !errors.As(err, &ne) {
			t.Errorf("Authenticate(%q) = %v, want *NameError", bad, err)
		}
		if err := r.Register(ctx, Conn{ID: "c9", Rooms: []string{bad}}); !errors.As(err, &ne) {
			t.Errorf("Register(room %q) = %v, want *NameError", bad, err)
		}
	}
	equal(t, "no key created by rejected names", allKeys(t, rdb), before)
}

func TestPeakUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	r := MustRegistry(t, rdb, "node-a", nil)
	id := func(i int) string { return fmt.Sprintf("c%03d", i) }
	parallel := func(from, to int, fn func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, to-from)
		work := make(chan int)
		for range 50 {
			wg.Go(func() {
				for i := range work {
					if err := fn(i); err != nil {
						errs <- err
					}
				}
			})
		}
		for i := from; i < to; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	register := func(i int) error { return r.Register(ctx, Conn{ID: id(i), Rooms: []string{"lobby"}}) }
	parallel(0, 100, register)
	equal(t, "after 100", counts(t, r), Counts{Active: 100, Peak: 100, Rooms: 1, Nodes: 1})
	parallel(0, 40, func(i int) error { return r.Unregister(ctx, id(i)) })
	parallel(100, 110, register)
	equal(t, "after -40 +10", counts(t, r), Counts{Active: 70, Peak: 100, Rooms: 1, Nodes: 1})

	// Interleaved churn: the peak never drops below any observed active count
	// and never exceeds the number of connections that were ever live at once.
	parallel(110, 200, func(i int) error {
		if err := register(i); err != nil {
			return err
		}
		return r.Unregister(ctx, id(i))
	})
	c := counts(t, r)
	if c.Active != 70 || c.Peak < 100 || c.Peak > 70+50 {
		t.Fatalf("after churn: %+v, want active 70 and 100 <= peak <= 120", c)
	}
}

func TestUserLimit(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	r := MustRegistry(t, rdb, "node-a", &Config{MaxConnsPerUser: 2})
	mustBeat(t, r) // the limit counts connections of live nodes only
	for _, id := range []string{"c1", "c2", "c3"} {
		mustRegister(t, r, Conn{ID: id})
	}
	noErr(t, r.Authenticate(ctx, "c1", "alice", TypeUser, t0))
	noErr(t, r.Authenticate(ctx, "c2", "alice", TypeUser, t0))
	noErr(t, r.Authenticate(ctx, "c2", "alice", TypeUser, t0)) // re-auth does not count itself
	before := allKeys(t, rdb)
	c3, err := r.Conn(ctx, "c3")
	noErr(t, err)

	isErr(t, r.Authenticate(ctx, "c3", "alice", TypeUser, t0), ErrUserLimit)
	equal(t, "keys unchanged", allKeys(t, rdb), before)
	after, err := r.Conn(ctx, "c3")
	noErr(t, err)
	equal(t, "c3 unchanged", after, c3)
	n, err := r.UserConnCount(ctx, "alice")
	noErr(t, err)
	equal(t, "alice conns", n, 2)

	noErr(t, r.Authenticate(ctx, "c3", "bob", TypeUser, t0)) // other users unaffected
	noErr(t, r.Unregister(ctx, "c1"))
	noErr(t, r.Authenticate(ctx, "c3", "alice", TypeUser, t0)) // a slot is free again; moves c3 away from bob
	equal(t, "bob gone", members(t, rdb, r.Keys().User("bob")), []string(nil))
	equal(t, "users", members(t, rdb, r.Keys().Users()), []string{"alice"})
}

func TestMissingConnNeverCreatesKeys(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	r := MustRegistry(t, rdb, "node-a", nil)
	mustRegister(t, r, Conn{ID: "c1", Rooms: []string{"lobby"}})
	before := allKeys(t, rdb)

	isErr(t, r.Join(ctx, "ghost", "lobby", t0), ErrNotFound)
	isErr(t, r.Authenticate(ctx, "ghost", "alice", TypeUser, t0), ErrNotFound)
	isErr(t, r.SetState(ctx, "ghost", StateInactive), ErrNotFound)
	noErr(t, r.Leave(ctx, "ghost", "lobby", t0))
	noErr(t, r.Unregister(ctx, "ghost"))
	equal(t, "keys", allKeys(t, rdb), before)
	equal(t, "lobby", members(t, rdb, r.Keys().Room("lobby")), []string{"c1"})
}

func TestTouch(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	r := MustRegistry(t, rdb, "node-a", nil)
	mustRegister(t, r, Conn{ID: "c1", LastActivity: t0, Rooms: []string{"lobby"}})
	mustRegister(t, r, Conn{ID: "c2", LastActivity: t0})
	noErr(t, r.Touch(ctx, []Activity{
		{ConnID: "c1", LastActivity: t0.Add(5 * time.Second), MessagesIn: 3, MessagesOut: 7},
		{ConnID: "c2", LastActivity: t0.Add(2 * time.Second), MessagesIn: 1},
	}))
	c, err := r.Conn(ctx, "c1")
	noErr(t, err)
	equal(t, "activity", []any{c.LastActivity, c.MessagesIn, c.MessagesOut}, []any{t0.Add(5 * time.Second), int64(3), int64(7)})
	act, err := r.Activity(ctx)
	noErr(t, err)
	equal(t, "cluster activity", act, map[string]time.Time{"c1": t0.Add(5 * time.Second), "c2": t0.Add(2 * time.Second)})
	// Unregister removes the entry with the connection.
	noErr(t, r.Unregister(ctx, "c1"))
	equal(t, "activity fields", hashFields(t, rdb, r.Keys().Activity()), []string{"c2"})
	noErr(t, r.Touch(ctx, nil))
	var ne *NameError
	if err := r.Touch(ctx, []Activity{{ConnID: "a:b"}}); !errors.As(err, &ne) {
		t.Fatalf("Touch(bad id) = %v, want *NameError", err)
	}
}

// TestTouchManyInBatches: a flush larger than one HSET batch writes every
// connection (the batches are separate round trips).
func TestTouchManyInBatches(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	r := MustRegistry(t, rdb, "node-a", nil)
	acts := make([]Activity, 2*touchBatch+7)
	for i := range acts {
		acts[i] = Activity{ConnID: fmt.Sprintf("c%d", i), LastActivity: t0.Add(time.Duration(i) * time.Millisecond), MessagesIn: int64(i)}
	}
	noErr(t, r.Touch(ctx, acts))
	got, err := rdb.HGetAll(ctx, r.Keys().Activity()).Result()
	noErr(t, err)
	equal(t, "entries", len(got), len(acts))
	last := acts[len(acts)-1]
	equal(t, "last entry", got[last.ConnID], packActivity(last))
}

func TestSetStateAndRegisterSync(t *testing.T) {
	ctx := context.Background()
	_, rdb := MustMiniredis(t)
	r := MustRegistry(t, rdb, "node-a", nil)
	k := r.Keys()
	mustRegister(t, r, Conn{ID: "c1", User: "alice", Rooms: []string{"a", "b"}})
	noErr(t, r.SetState(ctx, "c1", StateInactive))
	c, err := r.Conn(ctx, "c1")
	noErr(t, err)
	equal(t, "state", c.State, StateInactive)
	if err := r.SetState(ctx, "c1", "bogus"); err == nil {
		t.Fatal("SetState(bogus) = nil")
	}

	// Re-registering with another user and rooms makes the record match exactly.
	mustRegister(t, r, Conn{ID: "c1", User: "bob", Rooms: []string{"b", "c"}})
	c, err = r.Conn(ctx, "c1")
	noErr(t, err)
	equal(t, "rooms", c.Rooms, []string{"b", "c"})
	equal(t, "user", c.User, "bob")
	equal(t, "users index", members(t, rdb, k.Users()), []string{"bob"})
	equal(t, "rooms index", members(t, rdb, k.Rooms()), []string{"b", "c"})
	if n, _ := rdb.Exists(ctx, k.RoomMeta("a"), k.User("alice")).Result(); n != 0 {
		t.Fatalf("%d stale keys for room a / user alice", n)
	}
}

// TestRegisterNewMatchesReconcile: registering a brand-new connection takes
// the script's fast path (one HSET). It must leave exactly the state the
// reconciling path leaves for the same registration from scratch; that path
// is forced by a stray connrooms set, which it then removes.
func TestRegisterNewMatchesReconcile(t *testing.T) {
	for _, la := range []time.Time{{}, t0.Add(123 * time.Millisecond)} {
		c := Conn{ID: "c1", User: "alice", IP: "10.0.0.1", ConnectedAt: t0,
			LastActivity: la, MessagesIn: 2, MessagesOut: 5}
		_, fastDB := MustMiniredis(t)
		fast := MustRegistry(t, fastDB, "node-a", nil)
		mustRegister(t, fast, c)
		_, slowDB := MustMiniredis(t)
		slow := MustRegistry(t, slowDB, "node-a", nil)
		slow.inc = fast.inc // the same process, as far as the records go
		noErr(t, slowDB.SAdd(context.Background(), slow.Keys().ConnRooms("c1"), "stray").Err())
		mustRegister(t, slow, c)
		if f, s := dumpKeys(t, fastDB), dumpKeys(t, slowDB); !reflect.DeepEqual(f, s) {
			t.Fatalf("last_activity %v: fast path left\n%v\nreconciling path\n%v", la, f, s)
		}
	}
}

// dumpKeys renders every key's type and contents, sorted, for comparisons.
func dumpKeys(t *testing.T, rdb redis.UniversalClient) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, k := range rdb.Keys(ctx, "*").Val() {
		var parts []string
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				parts = append(parts, f+"="+v)
			}
		case "set":
			parts = rdb.SMembers(ctx, k).Val()
		case "string":
			parts = []string{rdb.Get(ctx, k).Val()}
		default:
			parts = []string{"type " + typ}
		}
		sort.Strings(parts)
		out[k] = strings.Join(parts, " ")
	}
	return out
}

// TestPipeErrSeesPastNil: a pipeline whose first failing command only found
// no key (redis.Nil) must still report a real failure behind it.
func TestPipeErrSeesPastNil(t *testing.T) {
	ctx := context.Background()
	missing, broken, fine := redis.NewStringCmd(ctx), redis.NewStringCmd(ctx), redis.NewStringCmd(ctx)
	missing.SetErr(redis.Nil)
	boom := errors.New("connection reset")
	broken.SetErr(boom)
	if err := pipeErr([]redis.Cmder{missing, broken}, redis.Nil); !errors.Is(err, boom) {
		t.Fatalf("pipeErr = %v, want %v", err, boom)
	}
	if err := pipeErr([]redis.Cmder{missing, fine}, redis.Nil); err != nil {
		t.Fatalf("pipeErr with only a missing key = %v, want nil", err)
	}
}
