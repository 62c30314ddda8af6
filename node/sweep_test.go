package node

import (
	"testing"
	"time"
)

// TestSweepSpreadsPings: sockets that connect in one burst must not all be
// pinged by the same sweep every interval (each ping wakes a writer, and
// each pong a reader: with thousands of sockets that burst stalled
// deliveries for 60-100 ms). Eight sweeps over one interval, on a clock the
// test controls, must ping every socket exactly once and no sweep more than
// a quarter of them.
func TestSweepSpreadsPings(t *testing.T) {
	const sockets, steps = 400, 8
	interval := 8 * time.Second
	n := benchNode(t, func(c *Config) {
		c.PingInterval, c.WriteTimeout = interval, time.Hour
	})
	conns := make([]*conn, sockets)
	for i := range conns {
		c := n.newConn(nil, "192.0.2.1") // no socket: enqueue never starts a writer
		c.writing = true
		n.idx.add(c)
		conns[i] = c
	}
	pings := func(c *conn) int {
		c.qmu.Lock()
		defer c.qmu.Unlock()
		k := 0
		for _, f := range c.queue {
			if f.ping {
				k++
			}
		}
		return k
	}
	start := nowMS()
	pinged, worst := 0, 0
	for step := 1; step <= steps; step++ {
		now := start + int64(step)*interval.Milliseconds()/steps
		for i := range sweepSlices {
			n.sweepSlice(i, now, time.UnixMilli(now).UnixNano())
		}
		total := 0
		for _, c := range conns {
			total += pings(c)
		}
		worst = max(worst, total-pinged)
		pinged = total
	}
	if pinged != sockets {
		t.Fatalf("%d pings over one interval for %d sockets, want one each", pinged, sockets)
	}
	if worst > sockets/4 {
		t.Fatalf("one sweep pinged %d of %d sockets that connected together; want at most %d", worst, sockets, sockets/4)
	}
}

// TestSweepSlicesPartitionSockets: the sliced sweep visits every socket once
// per pass, in parts of nearly equal size, and drops closed sockets.
func TestSweepSlicesPartitionSockets(t *testing.T) {
	n := benchNode(t, nil)
	conns := make([]*conn, 95)
	for i := range conns {
		conns[i] = n.newConn(nil, "192.0.2.1")
		n.idx.add(conns[i])
	}
	n.idx.remove(conns[0], "", nil)
	seen := map[*conn]int{}
	for i := range sweepSlices {
		size := 0
		n.idx.eachInSlice(i, func(c *conn) { seen[c]++; size++ })
		if size < 9 || size > 10 {
			t.Fatalf("slice %d holds %d of 94 sockets, want 9 or 10", i, size)
		}
	}
	if len(seen) != 94 || seen[conns[0]] != 0 {
		t.Fatalf("a pass visited %d sockets (removed one %d times), want 94 and 0", len(seen), seen[conns[0]])
	}
	for c, k := range seen {
		if k != 1 {
			t.Fatalf("socket %s visited %d times in one pass", c.id, k)
		}
	}
}

// TestSweepTick: one pass takes one sweep interval, in ticks of at least
// 10 ms whose slice counts divide sweepSlices.
func TestSweepTick(t *testing.T) {
	for _, tc := range []struct {
		ping  time.Duration
		tick  time.Duration
		parts int
	}{
		{25 * time.Second, 100 * time.Millisecond, 10},
		{200 * time.Millisecond, 10 * time.Millisecond, 5},
		{80 * time.Millisecond, 10 * time.Millisecond, 2},
		{20 * time.Millisecond, 10 * time.Millisecond, 1},
	} {
		n := benchNode(t, func(c *Config) { c.PingInterval, c.WriteTimeout = tc.ping, time.Hour })
		tick, parts := n.sweepTick()
		if tick != tc.tick || parts != tc.parts {
			t.Errorf("ping %v: tick %v in %d parts, want %v in %d", tc.ping, tick, parts, tc.tick, tc.parts)
		}
	}
}
