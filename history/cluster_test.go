package history

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/keyspace"
	"github.com/wsnode/wsnode/internal/rediscluster"
)

func TestClusterScripts(t *testing.T) {
	if appendClusterSrc == appendSrc || !strings.Contains(appendClusterSrc, "redis.call('SPUBLISH', ARGV[1], body)") {
		t.Fatalf("the cluster append script does not SPUBLISH:\n%s", appendClusterSrc)
	}
	if strings.Contains(appendClusterSrc, "'PUBLISH'") {
		t.Fatal("the cluster append script still PUBLISHes")
	}
}

// TestCluster runs appends of rooms in many buckets (and so on every
// primary) through one pipeline on a real Redis Cluster: the stream and meta
// keys are keyspace's, the message goes out with SPUBLISH on the room's
// shard channel (never PUBLISH), offsets and epochs behave as in single
// mode, and Recover reads the cluster names.
func TestCluster(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Options{})
	rdb := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ks := keyspace.New("ws")
	s, err := New(rdb, Config{Size: 3, TTL: time.Minute, Cluster: true})
	if err != nil {
		t.Fatal(err)
	}

	var rooms []string
	buckets := map[int]bool{}
	for i := 0; len(rooms) < 12; i++ {
		room := fmt.Sprintf("room-%d", i)
		if b := keyspace.Bucket(room); !buckets[b] {
			buckets[b] = true
			rooms = append(rooms, room)
		}
	}
	subs := map[string]*redis.PubSub{}
	for _, room := range rooms {
		ps := rdb.SSubscribe(ctx, ks.RoomChannel(room)) // one connection per slot
		t.Cleanup(func() { _ = ps.Close() })
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatalf("ssubscribe %s: %v", room, err)
		}
		subs[room] = ps
	}

	// Before Load, the pipelined EVALSHA fails with NOSCRIPT everywhere.
	p := rdb.Pipeline()
	res, err := s.Queue(ctx, p, rooms[0], ks.RoomChannel(rooms[0]), body(0))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.Exec(ctx)
	if _, err := res(); !IsNoScript(err) {
		t.Fatalf("before Load: %v, want NOSCRIPT", err)
	}
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}

	// Two rounds of one pipeline spanning every room.
	pubs := map[string][]Published{}
	for round := range 2 {
		p := rdb.Pipeline()
		results := map[string]func() (Published, error){}
		for _, room := range rooms {
			res, err := s.Queue(ctx, p, room, ks.RoomChannel(room), body(round+1))
			if err != nil {
				t.Fatal(err)
			}
			results[room] = res
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for room, res := range results {
			pub, err := res()
			if err != nil {
				t.Fatalf("round %d, %s: %v", round, room, err)
			}
			pubs[room] = append(pubs[room], pub)
		}
	}
	for _, room := range rooms {
		ps := pubs[room]
		epoch := ps[0].Epoch
		for i, pub := range ps {
			if pub.Offset != uint64(i+1) || pub.Epoch != epoch || pub.Receivers != 1 || len(epoch) != 16 {
				t.Fatalf("%s publish %d: %+v, want offset %d in epoch %q to 1 receiver", room, i, pub, i+1, epoch)
			}
		}
		for i := range ps {
			msg, err := subs[room].ReceiveMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pl := payload(t, []byte(msg.Payload))
			if msg.Channel != ks.RoomChannel(room) || pl["offset"] != float64(i+1) || pl["epoch"] != epoch {
				t.Fatalf("%s message %d on %s: %v", room, i, msg.Channel, pl)
			}
		}
		if n := rdb.Exists(ctx, ks.History(room)).Val() + rdb.Exists(ctx, ks.HistoryMeta(room)).Val(); n != 2 {
			t.Fatalf("%s: %d of the cluster history keys exist, want 2", room, n)
		}
		entries, cur, ok, err := s.Recover(ctx, room, Position{Offset: 1, Epoch: epoch})
		if err != nil || !ok || cur != (Position{2, epoch}) || len(entries) != 1 || entries[0].Offset != 2 {
			t.Fatalf("%s: Recover(1) = %v %+v %v %v", room, entries, cur, ok, err)
		}
		if cur, err := s.Current(ctx, room); err != nil || cur != (Position{2, epoch}) {
			t.Fatalf("%s: Current = %+v %v", room, cur, err)
		}
		if last, _, err := s.Last(ctx, room, 10); err != nil || len(last) != 2 || last[0].Offset != 1 {
			t.Fatalf("%s: Last = %v %v", room, last, err)
		}
	}
	// No single-mode key was written.
	for _, room := range rooms[:3] {
		if n := rdb.Exists(ctx, streamKey("ws", room)).Val() + rdb.Exists(ctx, metaKey("ws", room)).Val(); n != 0 {
			t.Fatalf("%s: single-mode history keys exist", room)
		}
	}

	// Publish (its own round trip) falls back to EVAL after a flush of the
	// script cache, and the history survives.
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.ScriptFlush(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
	pub, err := s.Publish(ctx, rooms[1], ks.RoomChannel(rooms[1]), body(9))
	if err != nil || pub.Offset != 3 || pub.Epoch != pubs[rooms[1]][0].Epoch || pub.Receivers != 1 {
		t.Fatalf("Publish after SCRIPT FLUSH: %+v %v", pub, err)
	}

	var spublish int64
	for addr, n := range c.CommandCalls(t, "publish") {
		if n != 0 {
			t.Errorf("%s ran PUBLISH %d times", addr, n)
		}
	}
	for _, n := range c.CommandCalls(t, "spublish") {
		spublish += n
	}
	if want := int64(2*len(rooms) + 1); spublish != want {
		t.Errorf("SPUBLISH ran %d times on the cluster, want %d", spublish, want)
	}
}
