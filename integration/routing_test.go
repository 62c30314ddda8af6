package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

const wait = 10 * time.Second

// TestRouting: scenario 1. Three nodes; every kind of routing crosses
// nodes, and the admin API of every node agrees on the result.
func TestRouting(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, nodeOpts{fast: true})
	n0, n1, n2 := c.nodes[0], c.nodes[1], c.nodes[2]

	alice0 := dial(t, n0.wsURL(), "alice@n0", "alice", "user")
	alice1 := dial(t, n1.wsURL(), "alice@n1", "alice", "user")
	bob := dial(t, n2.wsURL(), "bob@n2", "bob", "user")
	carol := dial(t, n1.wsURL(), "carol@n1", "carol", "user")
	sys := dial(t, n2.wsURL(), "svc@n2", "svc", "system")
	for _, cl := range []*wsClient{alice0, alice1, bob, carol, sys} {
		if want := map[*wsClient]string{alice0: "n0", alice1: "n1", bob: "n2", carol: "n1", sys: "n2"}[cl]; cl.nodeID != want {
			t.Fatalf("%s landed on %s, want %s", cl.name, cl.nodeID, want)
		}
	}
	members := []*wsClient{alice0, alice1, bob, carol}
	for _, cl := range members {
		cl.join("lobby")
	}

	// Every node sees the same room with all four members.
	wantIDs := []string{alice0.connID, alice1.connID, bob.connID, carol.connID}
	slices.Sort(wantIDs)
	for _, n := range c.nodes {
		var r roomDoc
		if err := n.getJSON("/rooms/lobby", &r); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.ConnIDs, wantIDs) || r.Connections != 4 || !slices.Equal(r.Users, []string{"alice", "bob", "carol"}) {
			t.Fatalf("%s /rooms/lobby = %+v, want conns %v users alice,bob,carol", n.id, r, wantIDs)
		}
	}

	t.Run("room broadcast", func(t *testing.T) {
		bob.send(map[string]any{"type": "message", "room": "lobby", "data": "hello lobby"})
		for _, cl := range members { // the sender gets its echo too
			f := cl.expect("message", wait, hasData("hello lobby"))
			if f.Room != "lobby" || f.From.User != "bob" || f.From.ConnID != bob.connID || f.MsgID == "" {
				t.Fatalf("%s got %s", cl.name, f.raw)
			}
		}
		sys.noFrame("message", 300*time.Millisecond, nil) // not a member
		bob.send(map[string]any{"type": "message", "room": "lobby", "data": "no echo", "echo": false})
		for _, cl := range []*wsClient{alice0, alice1, carol} {
			cl.expect("message", wait, hasData("no echo"))
		}
		bob.noFrame("message", 300*time.Millisecond, hasData("no echo"))
	})

	t.Run("direct to a user on two nodes", func(t *testing.T) {
		bob.send(map[string]any{"type": "direct", "to_user": "alice", "data": "hi alice"})
		for _, cl := range []*wsClient{alice0, alice1} {
			f := cl.expect("direct", wait, hasData("hi alice"))
			if f.From.User != "bob" || f.From.ConnID != bob.connID {
				t.Fatalf("%s got %s", cl.name, f.raw)
			}
		}
		carol.noFrame("direct", 300*time.Millisecond, nil)
	})

	t.Run("direct to one connection", func(t *testing.T) {
		carol.send(map[string]any{"type": "direct", "to_conn": alice0.connID, "data": "only alice0"})
		f := alice0.expect("direct", wait, hasData("only alice0"))
		if f.From.User != "carol" {
			t.Fatalf("alice0 got %s", f.raw)
		}
		alice1.noFrame("direct", 300*time.Millisecond, nil)
	})

	t.Run("broadcast to all", func(t *testing.T) {
		// A user connection may not broadcast; a system one may.
		bob.send(map[string]any{"type": "broadcast", "data": "not allowed", "id": "b1"})
		if f := bob.expect("error", wait, nil); f.Code != "forbidden" {
			t.Fatalf("user broadcast answered %s, want code forbidden", f.raw)
		}
		sys.send(map[string]any{"type": "broadcast", "data": "to everyone"})
		for _, cl := range []*wsClient{alice0, alice1, bob, carol, sys} {
			f := cl.expect("broadcast", wait, hasData("to everyone"))
			if f.From.User != "svc" {
				t.Fatalf("%s got %s", cl.name, f.raw)
			}
		}
		for _, cl := range []*wsClient{alice0, alice1, bob, carol, sys} {
			cl.noFrame("broadcast", 100*time.Millisecond, hasData("not allowed"))
		}
	})

	t.Run("admin publish from a node without the target", func(t *testing.T) {
		// n0 holds none of bob, carol or svc.
		n0.mustAdmin(t, "POST", "/publish", map[string]any{"conn_id": bob.connID, "data": "admin to bob"}, 202)
		if f := bob.expect("direct", wait, hasData("admin to bob")); !f.From.System {
			t.Fatalf("bob got %s, want from.system", f.raw)
		}
		n0.mustAdmin(t, "POST", "/publish", map[string]any{"user": "carol", "data": "admin to carol"}, 202)
		carol.expect("direct", wait, hasData("admin to carol"))
		n2.mustAdmin(t, "POST", "/publish", map[string]any{"room": "lobby", "data": "admin to lobby"}, 202)
		for _, cl := range members {
			cl.expect("message", wait, hasData("admin to lobby"))
		}
		n1.mustAdmin(t, "POST", "/publish", map[string]any{"all": true, "data": "admin to all"}, 202)
		for _, cl := range []*wsClient{alice0, alice1, bob, carol, sys} {
			cl.expect("broadcast", wait, hasData("admin to all"))
		}
		n0.mustAdmin(t, "POST", "/publish", map[string]any{"conn_id": "00000000-0000-4000-8000-000000000000", "data": 1}, 404)
	})

	t.Run("leave cleanup seen from every node", func(t *testing.T) {
		alice1.leave("lobby")
		want := []string{alice0.connID, bob.connID, carol.connID}
		slices.Sort(want)
		for _, n := range c.nodes {
			var r roomDoc
			if err := n.getJSON("/rooms/lobby", &r); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.ConnIDs, want) {
				t.Fatalf("%s /rooms/lobby conns %v after alice1 left, want %v", n.id, r.ConnIDs, want)
			}
			var cd connDoc
			if err := n.getJSON("/connections/"+alice1.connID, &cd); err != nil {
				t.Fatal(err)
			}
			if len(cd.Rooms) != 0 || cd.NodeID != "n1" || cd.User != "alice" {
				t.Fatalf("%s /connections/alice1 = %+v, want no rooms on n1", n.id, cd)
			}
		}
		carol.send(map[string]any{"type": "message", "room": "lobby", "data": "after leave"})
		alice0.expect("message", wait, hasData("after leave"))
		alice1.noFrame("message", 300*time.Millisecond, hasData("after leave"))
	})

	t.Run("admin disconnect from a node without the target", func(t *testing.T) {
		n0.mustAdmin(t, "DELETE", "/connections/"+carol.connID, nil, 202) // carol is on n1
		code, err := carol.waitClosed(wait)
		if err != nil {
			t.Fatal(err)
		}
		if code != 4006 {
			t.Fatalf("carol closed with %d, want 4006 (kicked by admin)", code)
		}
		gone(t, c.nodes, carol.connID, "carol", "lobby")
	})

	t.Run("disconnect cleanup seen from every node", func(t *testing.T) {
		bob.Close()
		gone(t, c.nodes, bob.connID, "bob", "lobby")
		var r roomDoc
		if err := n1.getJSON("/rooms/lobby", &r); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.ConnIDs, []string{alice0.connID}) || !slices.Equal(r.Users, []string{"alice"}) {
			t.Fatalf("/rooms/lobby = %+v, want only alice0", r)
		}
		// The last member leaving deletes the room everywhere.
		alice0.leave("lobby")
		for _, n := range c.nodes {
			waitFor(t, wait, n.id+" /rooms/lobby 404", func() error { return wantStatus(n, "/rooms/lobby", 404) })
			var rs roomsDoc
			if err := n.getJSON("/rooms", &rs); err != nil {
				t.Fatal(err)
			}
			if rs.Count != 0 {
				t.Fatalf("%s /rooms = %+v, want none", n.id, rs)
			}
		}
		var u userDoc
		if err := n2.getJSON("/users/alice", &u); err != nil {
			t.Fatal(err)
		}
		if len(u.Conns) != 2 {
			t.Fatalf("/users/alice = %+v, want 2 connections", u)
		}
	})
}

func wantStatus(n *wsNode, path string, want int) error {
	st, err := n.status(path)
	if err != nil {
		return err
	}
	if st != want {
		return fmt.Errorf("GET %s: status %d, want %d", path, st, want)
	}
	return nil
}

// gone waits until no node lists the connection, the user (which must have
// no other connection) or the connection as a member of room.
func gone(t *testing.T, nodes []*wsNode, connID, user, room string) {
	t.Helper()
	for _, n := range nodes {
		waitFor(t, wait, fmt.Sprintf("%s to forget %s", n.id, connID), func() error {
			if err := wantStatus(n, "/connections/"+connID, 404); err != nil {
				return err
			}
			if err := wantStatus(n, "/users/"+user, 404); err != nil {
				return err
			}
			var r roomDoc
			st, b, err := n.admin("GET", "/rooms/"+room, nil)
			if err != nil {
				return err
			}
			if st == 200 {
				if err := jsonUnmarshal(b, &r); err != nil {
					return err
				}
				if slices.Contains(r.ConnIDs, connID) || slices.Contains(r.Users, user) {
					return fmt.Errorf("room %s still lists %s/%s: %+v", room, user, connID, r)
				}
			} else if st != 404 {
				return fmt.Errorf("GET /rooms/%s: %d", room, st)
			}
			return nil
		})
	}
}
