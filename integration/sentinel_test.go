package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// failoverBound is how soon after the promotion the cluster must route
// messages again and hold exact state in Redis.
const failoverBound = 5 * time.Second

// TestSentinelFailover: a primary, one replica and three sentinels; three
// nodes in sentinel mode carry clients in rooms and a publisher sending
// about 500 messages/s through one of them. The primary is SIGKILLed. While
// the tier has no primary every node answers /readyz 503; within 5 s of the
// promotion messages flow across nodes again, every node's /stats is exact,
// Redis (the new primary) holds exactly the live connections, users and
// rooms, and every node counted the loss.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	st := startSentinelTier(t, 1, 3, 2)
	o := nodeOpts{args: []string{"--redis-mode", "sentinel", "--redis-url", st.failoverURL(), "--msg-rate", "0",
		"--history-size", "100", "--history-rooms", "hist"}}
	var nodes []*wsNode
	for i := range 3 {
		nodes = append(nodes, startNode(t, fmt.Sprintf("s%d", i), st.primary, o))
	}

	// Clients: on each node one of "shared" and one of its own user, each in
	// "flow" and the node's room; the publisher on s0; "gone" on s2 leaves
	// during the outage.
	fc := startFlowClients(t, nodes)
	live, rooms, member, receivers := fc.live, fc.rooms, fc.member, fc.receivers
	pub := dial(t, nodes[0].wsURL(), "pub@s0", "pub", "user")
	member(pub, "flow")
	gone := dial(t, nodes[2].wsURL(), "gone@s2", "gone", "user")
	gone.join("flow")
	gone.join("rs2")

	ctx, stop := context.WithCancel(context.Background())
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stop()
	p := startPublisher(pubCtx, pub)
	var wg sync.WaitGroup
	for _, r := range receivers {
		wg.Go(func() { r.run(ctx) })
	}
	defer wg.Wait()
	defer stop()
	waitFor(t, wait, "the flow to reach every receiver", func() error { return flowing(receivers, 0) })

	// A connection registered just before the kill: its writes may not
	// have reached the replica.
	late := dial(t, nodes[1].wsURL(), "late@s1", "late", "user")
	member(late, "late-room")
	old := st.primary.addr()
	// The new primary must not depend on the old one's script cache: every
	// script call path has to survive NOSCRIPT.
	func() {
		c := redis.NewClient(&redis.Options{Addr: st.replicas[0].addr()})
		defer c.Close()
		if err := c.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatalf("SCRIPT FLUSH on the replica: %v", err)
		}
	}()
	p.atKill = p.seq()
	st.primary.p.kill()
	killed := time.Now()
	gone.Close() // its removal from Redis has to wait for the new primary
	for _, n := range nodes {
		waitFor(t, wait, n.id+" /readyz 503 without a primary", func() error { return wantStatus(n, "/readyz", 503) })
	}
	var primary string
	waitFor(t, 30*time.Second, "the sentinels to promote the replica", func() error {
		a, err := masterAddr(st.sentinels[0])
		if err == nil && a == old {
			err = errors.New("still the old primary")
		}
		primary = a
		return err
	})
	promoted := time.Now()
	seqAtPromotion := p.seq()
	t.Logf("promotion of %s seen %s after the kill", primary, promoted.Sub(killed).Round(10*time.Millisecond))

	if err := poll(failoverBound, func() error { return flowing(receivers, seqAtPromotion) }); err != nil {
		t.Fatalf("messages do not flow across nodes %s after the promotion: %v", failoverBound, err)
	}
	t.Logf("messages flow on every node %s after the promotion", time.Since(promoted).Round(10*time.Millisecond))

	rdb := redis.NewClient(&redis.Options{Addr: primary})
	defer rdb.Close()
	users := map[string]bool{}
	for _, cl := range live {
		users[cl.user] = true
	}
	err := poll(failoverBound-time.Since(promoted), func() error {
		var errs []error
		for _, n := range nodes {
			errs = append(errs, wantStatus(n, "/readyz", 200))
			var s statsDoc
			if err := n.getJSON("/stats", &s); err != nil || s.ActiveConnections != int64(len(live)) ||
				s.UniqueUsers != int64(len(users)) || s.Rooms != int64(len(rooms)) || s.Nodes != 3 {
				errs = append(errs, fmt.Errorf("%s /stats = %+v (%v), want %d connections, %d users, %d rooms, 3 nodes",
					n.id, s, err, len(live), len(users), len(rooms)))
			}
		}
		errs = append(errs, sameSet(rdb, "ws:conns", slices.Collect(maps.Keys(live))),
			sameSet(rdb, "ws:users", slices.Collect(maps.Keys(users))),
			sameSet(rdb, "ws:rooms", slices.Collect(maps.Keys(rooms))))
		for room, ids := range rooms {
			errs = append(errs, sameSet(rdb, "ws:room:"+room, ids))
		}
		for user := range users {
			var ids []string
			for id, cl := range live {
				if cl.user == user {
					ids = append(ids, id)
				}
			}
			errs = append(errs, sameSet(rdb, "ws:user:"+user, ids))
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("%s after the promotion the state is not exact: %v", failoverBound, err)
	}
	t.Logf("state exact on every node and in Redis %s after the promotion", time.Since(promoted).Round(10*time.Millisecond))

	exact := p.seq()

	// A new connection, a join and a message in a history room (the
	// registry's and the history's scripts) work on the new primary.
	h0 := dial(t, nodes[2].wsURL(), "h@s2", "h", "user")
	h0.join("hist")
	h1 := dial(t, nodes[0].wsURL(), "h@s0", "h", "user")
	h1.join("hist")
	f := h0.request(map[string]any{"type": "message", "room": "hist", "data": "after failover"}, "ack")
	if f.Offset == 0 {
		t.Errorf("history message acked without an offset: %s", f.raw)
	}
	h1.expect("message", wait, hasData("after failover"))

	for _, n := range nodes {
		if v, err := n.metric("wsnode_pubsub_reconnects_total"); err != nil || v < 1 {
			t.Errorf("%s wsnode_pubsub_reconnects_total = %v (%v), want >= 1", n.id, v, err)
		}
	}
	// One more second of traffic, then the publisher stops and the
	// receivers take what is still on its way.
	time.Sleep(time.Second)
	stopPub()
	sent, acked, failed := p.result()
	time.Sleep(500 * time.Millisecond)
	stop()
	wg.Wait()
	t.Logf("publisher: %d sent, %d acked, %d error frames (unavailable); %d sent after the kill",
		sent, len(acked), len(failed), sent-p.atKill)
	for _, r := range receivers {
		var missed, missedAfter int
		for seq := range acked {
			if !r.got[seq] {
				missed++
				if seq > exact {
					missedAfter++
				}
			}
		}
		t.Logf("%s: %d received, %d of the acked messages missed", r.c.name, len(r.got), missed)
		if missedAfter > 0 {
			t.Errorf("%s missed %d acked messages sent after the state was exact again", r.c.name, missedAfter)
		}
	}
	for _, cl := range live {
		select {
		case <-cl.Done():
			code, _ := cl.closeCode()
			t.Errorf("%s was closed (code %d) by the failover", cl.name, code)
		default:
		}
	}
}

// sameSet compares a Redis set with want.
func sameSet(rdb *redis.Client, key string, want []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := rdb.SMembers(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("SMEMBERS %s: %w", key, err)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s = %v, want %v", key, got, want)
	}
	return nil
}

// flowClients are the clients of a failover test: every connection that
// must be live, each room's members, and the receivers of room "flow".
type flowClients struct {
	live      map[string]*wsClient // conn id -> client
	rooms     map[string][]string  // room -> conn ids
	receivers []*flowReceiver
}

// startFlowClients dials, on each node, one client of user "shared" and
// one of its own user (u0, u1, ...), each in "flow" and the node's room
// ("r" + node id), and makes each a flow receiver.
func startFlowClients(t *testing.T, nodes []*wsNode) *flowClients {
	t.Helper()
	fc := &flowClients{live: map[string]*wsClient{}, rooms: map[string][]string{}}
	for i, n := range nodes {
		for _, user := range []string{"shared", fmt.Sprintf("u%d", i)} {
			cl := dial(t, n.wsURL(), user+"@"+n.id, user, "user")
			fc.member(cl, "flow", "r"+n.id)
			fc.receivers = append(fc.receivers, newFlowReceiver(cl))
		}
	}
	return fc
}

// member records cl as live and joins it to rs.
func (fc *flowClients) member(cl *wsClient, rs ...string) {
	fc.live[cl.connID] = cl
	for _, r := range rs {
		cl.join(r)
		fc.rooms[r] = append(fc.rooms[r], cl.connID)
	}
}

// flowReceiver drains a client's frames and records the sequence numbers
// of the "flow" messages it received.
type flowReceiver struct {
	c   *wsClient
	mu  sync.Mutex
	max int64
	got map[int64]bool // read after run returned
}

func newFlowReceiver(c *wsClient) *flowReceiver {
	return &flowReceiver{c: c, got: map[int64]bool{}}
}

func (r *flowReceiver) run(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	final := false
	for {
		for _, m := range r.c.Drain() {
			f := toFrame(m)
			var seq int64
			if f.Type != "message" || f.Room != "flow" || json.Unmarshal(f.Data, &seq) != nil {
				continue
			}
			r.mu.Lock()
			r.got[seq] = true
			r.max = max(r.max, seq)
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			if !final {
				final = true // one last drain
				continue
			}
			return
		case <-tick.C:
		}
	}
}

// flowing reports nil when every receiver got a message numbered above seq.
func flowing(rs []*flowReceiver, seq int64) error {
	for _, r := range rs {
		r.mu.Lock()
		m := r.max
		r.mu.Unlock()
		if m <= seq {
			return fmt.Errorf("%s: newest flow message %d, want > %d", r.c.name, m, seq)
		}
	}
	return nil
}

// publisher sends a numbered "flow" message with an id every 2 ms (about
// 500/s) and records the acks and error frames.
type publisher struct {
	c      *wsClient
	mu     sync.Mutex
	sent   int64
	atKill int64 // set by the test
	acked  map[int64]bool
	failed map[int64]bool
	done   chan struct{}
}

func startPublisher(ctx context.Context, c *wsClient) *publisher {
	p := &publisher{c: c, acked: map[int64]bool{}, failed: map[int64]bool{}, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			p.mu.Lock()
			p.sent++
			seq := p.sent
			p.mu.Unlock()
			b, _ := json.Marshal(map[string]any{"type": "message", "room": "flow", "data": seq, "echo": false, "id": seq})
			if err := c.Write(websocket.TextMessage, b); err != nil {
				return
			}
			if n%25 == 0 {
				p.drain()
			}
		}
	}()
	return p
}

func (p *publisher) drain() {
	for _, m := range p.c.Drain() {
		f := toFrame(m)
		var ref int64
		if json.Unmarshal(f.Ref, &ref) != nil {
			continue
		}
		p.mu.Lock()
		switch f.Type {
		case "ack":
			p.acked[ref] = true
		case "error":
			p.failed[ref] = true
		}
		p.mu.Unlock()
	}
}

func (p *publisher) seq() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

// result waits for the publisher to stop and returns what it counted.
func (p *publisher) result() (sent int64, acked, failed map[int64]bool) {
	<-p.done
	time.Sleep(200 * time.Millisecond) // the last replies
	p.drain()
	return p.sent, p.acked, p.failed
}
