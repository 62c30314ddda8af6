package pubsub

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// holeProxy forwards loopback TCP to upstream. While blackholed it keeps every connection open
// but drops all bytes in both directions, like a network path that silently stopped working.
type holeProxy struct {
	l        net.Listener
	upstream string
	hole     atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newHoleProxy(tb testing.TB, upstream string) *holeProxy {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &holeProxy{l: l, upstream: upstream}
	p.wg.Go(p.accept)
	tb.Cleanup(p.close)
	return p
}

func (p *holeProxy) addr() string { return p.l.Addr().String() }

func (p *holeProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(u, c) })
		p.wg.Go(func() { p.pipe(c, u) })
	}
}

func (p *holeProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.hole.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

func (p *holeProxy) close() {
	_ = p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestBlackholeDetected: a receive connection that silently stops carrying bytes turns Ready
// false within a few ping intervals, and the broker recovers once the path works again.
func TestBlackholeDetected(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	p := newHoleProxy(t, m.Addr())
	const ping = 100 * time.Millisecond
	b := startNode(t, p.addr(), "node-b", func(c *Config) {
		c.PingInterval = ping
		c.PongWait = 2 * ping
	})
	pub := newClient(t, &redis.Options{Addr: m.Addr()})
	ctx := t.Context()
	if err := b.Subscribe(ctx, KindRoom, "lobby"); err != nil {
		t.Fatal(err)
	}

	p.hole.Store(true)
	start := time.Now()
	waitFor(t, 5*time.Second, "Ready false under blackhole", func() bool { return !b.Ready() })
	if d := time.Since(start); d > 20*ping+time.Second {
		t.Fatalf("blackhole detected after %s", d)
	}

	p.hole.Store(false)
	waitFor(t, 10*time.Second, "recovered", func() bool { return b.Ready() && b.rec.reconnects.Load() > 0 })
	if s := b.Stats(); s.Reconnects < 1 {
		t.Fatalf("Reconnects = %d after blackhole", s.Reconnects)
	}
	waitFor(t, 5*time.Second, "room message after recovery", func() bool {
		_ = pub.Publish(ctx, b.Channel(KindRoom, "lobby"), Encode(deliver(KindRoom, "lobby", "back"))).Err()
		time.Sleep(20 * time.Millisecond)
		return b.rec.count("back") > 0
	})
}
