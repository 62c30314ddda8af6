package node

import "sync"

// index is this node's view of its own sockets: by id, by room and by user.
// Fan-out takes the read lock only.
type index struct {
	mu       sync.RWMutex
	conns    map[string]*conn
	rooms    map[string]map[*conn]struct{}
	users    map[string]map[*conn]struct{}
	perIP    map[string]int
	reserved int // sockets admitted and not yet released
	peak     int

	// slices partitions the sockets round-robin for the sliced sweep: one
	// sweep tick visits one slice, so per-socket work (pings above all) is
	// spread over the sweep interval instead of landing in one burst.
	slices [sweepSlices]map[*conn]struct{}
	next   int // slice of the next added socket
}

func newIndex() *index {
	x := &index{
		conns: map[string]*conn{},
		rooms: map[string]map[*conn]struct{}{},
		users: map[string]map[*conn]struct{}{},
		perIP: map[string]int{},
	}
	for i := range x.slices {
		x.slices[i] = map[*conn]struct{}{}
	}
	return x
}

// reserve admits one more socket from ip unless a limit is reached. A
// negative limit means unlimited. release undoes it.
func (x *index) reserve(ip string, maxTotal, maxPerIP int) (ok, perIP bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if maxTotal >= 0 && x.reserved >= maxTotal {
		return false, false
	}
	if maxPerIP >= 0 && x.perIP[ip] >= maxPerIP {
		return false, true
	}
	x.perIP[ip]++
	x.reserved++
	return true, false
}

func (x *index) release(ip string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.reserved--
	if x.perIP[ip]--; x.perIP[ip] <= 0 {
		delete(x.perIP, ip)
	}
}

func (x *index) add(c *conn) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.conns[c.id] = c
	x.peak = max(x.peak, len(x.conns))
	c.slice = uint8(x.next)
	x.slices[c.slice][c] = struct{}{}
	x.next = (x.next + 1) % sweepSlices
}

// remove drops the socket and all its memberships.
func (x *index) remove(c *conn, user string, rooms []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.conns, c.id)
	delete(x.slices[c.slice], c)
	for _, r := range rooms {
		delFrom(x.rooms, r, c)
	}
	if user != "" {
		delFrom(x.users, user, c)
	}
}

func (x *index) addRoom(c *conn, room string) { x.addTo(x.rooms, room, c) }
func (x *index) addUser(c *conn, user string) { x.addTo(x.users, user, c) }

func (x *index) removeRoom(c *conn, room string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delFrom(x.rooms, room, c)
}

func (x *index) addTo(m map[string]map[*conn]struct{}, key string, c *conn) {
	x.mu.Lock()
	defer x.mu.Unlock()
	set := m[key]
	if set == nil {
		set = map[*conn]struct{}{}
		m[key] = set
	}
	set[c] = struct{}{}
}

func delFrom(m map[string]map[*conn]struct{}, key string, c *conn) {
	if set := m[key]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}

// hasRoom reports whether any local socket is in room.
func (x *index) hasRoom(room string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.rooms[room]) > 0
}

func (x *index) get(id string) *conn {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.conns[id]
}

// each calls f for every member of a group (room or user) under the read
// lock; f must not block or take the index lock.
func (x *index) each(m map[string]map[*conn]struct{}, key string, f func(*conn)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for c := range m[key] {
		f(c)
	}
}

func (x *index) eachRoom(room string, f func(*conn)) { x.each(x.rooms, room, f) }
func (x *index) eachUser(user string, f func(*conn)) { x.each(x.users, user, f) }

func (x *index) eachConn(f func(*conn)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, c := range x.conns {
		f(c)
	}
}

// eachInSlice calls f for every local socket of sweep slice i under the
// read lock; f must not block or take the index lock.
func (x *index) eachInSlice(i int, f func(*conn)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for c := range x.slices[i] {
		f(c)
	}
}

// all returns a copy of the local sockets, for work that may block.
func (x *index) all() []*conn {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]*conn, 0, len(x.conns))
	for _, c := range x.conns {
		out = append(out, c)
	}
	return out
}

// counts returns local sockets, peak, distinct users and rooms.
func (x *index) counts() (conns, peak, users, rooms int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.conns), x.peak, len(x.users), len(x.rooms)
}
