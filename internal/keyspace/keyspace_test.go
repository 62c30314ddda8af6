package keyspace

import (
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
)

// tagOf returns the hash tag Redis Cluster hashes for key.
func tagOf(key string) string {
	i := strings.IndexByte(key, '{')
	j := strings.IndexByte(key[i+1:], '}')
	return key[i+1 : i+1+j]
}

func TestSameSlot(t *testing.T) {
	k := New("ws")
	for _, room := range []string{"lobby", "a", "ai-chat-17"} {
		tags := map[string]bool{}
		for _, key := range []string{k.Room(room), k.RoomMeta(room), k.History(room), k.HistoryMeta(room),
			k.RoomChannel(room), k.Rooms(Bucket(room))} {
			tags[tagOf(key)] = true
		}
		if len(tags) != 1 {
			t.Errorf("room %q keys span tags %v", room, tags)
		}
	}
	id := "0b7e1f3c-0000-4000-8000-000000000001"
	for _, set := range [][]string{
		{k.Conn(id), k.ConnRooms(id), k.Conns(Bucket(id)), k.Activity(Bucket(id))},
		{k.User("alice"), k.Users(Bucket("alice")), k.UserChannel("alice")},
		{k.Node("n1"), k.NodeConns("n1"), k.Nodes(Bucket("n1")), k.NodeChannel("n1")},
	} {
		tags := map[string]bool{}
		for _, key := range set {
			tags[tagOf(key)] = true
		}
		if len(tags) != 1 {
			t.Errorf("%v span tags %v", set, tags)
		}
	}
	if tagOf(k.Room("x")) == tagOf(New("other").Room("x")) {
		t.Error("two prefixes share a tag")
	}
}

func TestBucketsSpread(t *testing.T) {
	var n [Buckets]int
	for i := range 64000 {
		n[Bucket("room-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strconv.Itoa(i))]++
	}
	for b, c := range n {
		if c < 500 || c > 1500 { // 1000 expected
			t.Errorf("bucket %d holds %d of 64000", b, c)
		}
	}
}

func TestParseChannel(t *testing.T) {
	k := New("ws")
	for _, c := range []struct{ ch, kind, target string }{
		{k.AllChannel(), "all", ""},
		{k.RoomChannel("lobby"), "room", "lobby"},
		{k.UserChannel("alice"), "user", "alice"},
		{k.NodeChannel("n-1"), "node", "n-1"},
	} {
		kind, target, ok := k.ParseChannel(c.ch)
		if !ok || kind != c.kind || target != c.target {
			t.Errorf("%s: %q %q %v", c.ch, kind, target, ok)
		}
	}
	for _, bad := range []string{"ws:ch:room:lobby", "{ws:r1}:ch:room:lobby", "{other:a}:ch:all", k.Room("lobby"), "{ws:r3}:ch:bogus:x"} {
		if _, _, ok := k.ParseChannel(bad); ok && bad != k.RoomChannel("lobby") {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Bucket is FNV-1a (32 bit) of the name, as hash/fnv computes it: the
// layout is part of the Redis contract.
func TestBucketIsFNV1a(t *testing.T) {
	for _, name := range []string{"", "a", "lobby", "0b7e1f3c-0000-4000-8000-000000000001", "ai-chat-17"} {
		h := fnv.New32a()
		_, _ = h.Write([]byte(name))
		if got, want := Bucket(name), int(h.Sum32()%Buckets); got != want {
			t.Errorf("Bucket(%q) = %d, want %d", name, got, want)
		}
	}
}

// The receive path parses every message's channel: no allocation.
func TestParseChannelAllocs(t *testing.T) {
	k := New("ws")
	ch := k.RoomChannel("lobby")
	if n := testing.AllocsPerRun(100, func() { _, _, _ = k.ParseChannel(ch) }); n != 0 {
		t.Errorf("ParseChannel allocates %v times per call", n)
	}
}
