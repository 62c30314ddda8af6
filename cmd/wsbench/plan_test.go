package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestRoomsLayoutSpreadsEveryRoomOverAllNodes(t *testing.T) {
	c := &Config{Scenario: scRooms, URLs: []string{"a", "b", "c"}, Rooms: 30, Members: 100, Pubs: 1, Procs: 2, Prefix: "p", PubJoin: true}
	if c.Sockets() != 3030 || c.Receivers() != 3000 || c.Publishers() != 30 {
		t.Fatalf("sockets %d", c.Sockets())
	}
	perRoomNode := map[[2]int]int{}
	for i := range c.Receivers() {
		s := c.Slot(i)
		if s.Role != roleReceiver || s.Room != c.RoomName(s.Target) {
			t.Fatalf("slot %d: %+v", i, s)
		}
		perRoomNode[[2]int{s.Target, s.Node}]++
	}
	for r := range 30 {
		for n := range 3 {
			if got := perRoomNode[[2]int{r, n}]; got < 33 || got > 34 {
				t.Errorf("room %d node %d has %d members", r, n, got)
			}
		}
	}
	p := c.Slot(3000 + 7)
	if p.Role != rolePublisher || p.Target != 7 || p.Room != c.RoomName(7) || p.Pub != 7 {
		t.Errorf("publisher slot %+v", p)
	}
}

func TestWorkersPartitionSlots(t *testing.T) {
	c := &Config{Scenario: scDirect, URLs: []string{"a"}, Conns: 100, Pubs: 7, Procs: 3, Prefix: "p"}
	seen := map[int]int{}
	for w := range 3 {
		for _, s := range c.WorkerSlots(w) {
			seen[s.Index]++
			if c.WorkerOf(s.Index) != w {
				t.Errorf("slot %d in worker %d", s.Index, w)
			}
		}
	}
	if len(seen) != 107 {
		t.Errorf("%d slots covered, want 107", len(seen))
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("slot %d owned %d times", i, n)
		}
	}
	if s := c.Slot(5); s.Room != "" || s.Target != 5 || s.User != c.ReceiverUser(5) {
		t.Errorf("direct receiver %+v", s)
	}
}

func TestSeqLimitCoversSchedule(t *testing.T) {
	c := &Config{Scenario: scRooms, URLs: []string{"a"}, Rooms: 30, Members: 100, Pubs: 1, Rate: 30000,
		Duration: 10 * time.Second, Warmup: 2 * time.Second}
	n := NewSchedule(0, MsgRate(c.Rate, c.Fanout()), 0, c.Publishers(), c.Warmup+c.Duration).Count
	if c.SeqLimit() < n {
		t.Errorf("SeqLimit %d < scheduled %d", c.SeqLimit(), n)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-scenario", "direct", "-secret", "s", "-urls", "ws://a/ws, ws://b/ws",
		"-pids", "10,11", "-src-count", "3", "-conns", "40000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.URLs) != 2 || c.PIDs[1] != 11 || c.Pubs != 30 || len(c.SrcAddrs) != 3 || c.SrcAddrs[2] != "127.0.0.3" {
		t.Errorf("%+v", c)
	}
	if c.Procs != 3 { // 40030 sockets at 15000 per process
		t.Errorf("procs %d, want 3", c.Procs)
	}
	if !strings.HasPrefix(c.Prefix, "wb") {
		t.Errorf("prefix %q", c.Prefix)
	}
}

func TestParseFlagsRejects(t *testing.T) {
	bad := [][]string{
		{"-secret", "s", "-scenario", "bogus"},
		{"-scenario", "rooms"}, // no secret
		{"-secret", "s", "-pids", "1,2", "-urls", "ws://a/ws"},
		{"-secret", "s", "-procs", "1", "-conns", "20000", "-scenario", "idle"},
		{"-secret", "s", "-rate", "0"},
	}
	t.Setenv("WS_JWT_SECRET", "")
	for _, args := range bad {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// -no-join: connect and idle sockets join no room; rooms ignore it.
func TestNoJoin(t *testing.T) {
	c := &Config{Scenario: scConnect, URLs: []string{"a", "b"}, Conns: 10, Rooms: 1, Members: 5, Pubs: 1, Prefix: "p"}
	if s := c.Slot(3); s.Room != c.RoomName(0) {
		t.Errorf("connect slot joins %q, want %q", s.Room, c.RoomName(0))
	}
	c.NoJoin = true
	if s := c.Slot(3); s.Room != "" {
		t.Errorf("connect slot with -no-join joins %q", s.Room)
	}
	c.Scenario = scRooms
	if s := c.Slot(3); s.Room == "" {
		t.Error("rooms receiver with -no-join joins no room")
	}
}
