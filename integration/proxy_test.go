package integration

import (
	"net"
	"sync"
	"testing"
)

// faultProxy is a loopback TCP proxy that can black-hole traffic: while
// cut, it forwards nothing in either direction and opens no upstream
// connection, yet keeps every socket open, like a network partition whose
// packets are dropped (no RST, no FIN). Bytes already read wait and are
// delivered after heal, as TCP retransmission would.
type faultProxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	cut   bool
	heal  chan struct{} // closed when not cut
	conns map[net.Conn]struct{}
	done  chan struct{} // closed by close
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, upstream string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, upstream: upstream, heal: make(chan struct{}), done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.heal)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

// blackhole starts dropping traffic.
func (p *faultProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cut {
		p.cut = true
		p.heal = make(chan struct{})
	}
}

// restore forwards again.
func (p *faultProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		p.cut = false
		close(p.heal)
	}
}

// gate blocks while the proxy is cut; false once the connection pair or
// the whole proxy is closed (a cut proxy closed by a failing test must not
// leave its pumps, and so close, waiting forever).
func (p *faultProxy) gate(closed <-chan struct{}) bool {
	p.mu.Lock()
	h := p.heal
	p.mu.Unlock()
	select {
	case <-closed:
		return false
	case <-p.done:
		return false
	default:
	}
	select {
	case <-h:
		return true
	case <-closed:
		return false
	case <-p.done:
		return false
	}
}

func (p *faultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *faultProxy) serve(down net.Conn) {
	defer p.wg.Done()
	closed := make(chan struct{})
	var once sync.Once
	shut := func() { once.Do(func() { close(closed) }) }
	defer down.Close()
	if !p.gate(closed) {
		return
	}
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	if !p.track(up) {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(up, down, closed, shut) }()
	go func() { defer wg.Done(); p.pump(down, up, closed, shut) }()
	<-closed
	_ = up.Close()
	_ = down.Close()
	wg.Wait()
}

func (p *faultProxy) pump(dst, src net.Conn, closed chan struct{}, shut func()) {
	defer shut()
	buf := make([]byte, 32<<10)
	for {
		if !p.gate(closed) {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate(closed) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a closed socket: end both directions
			return
		}
	}
}

func (p *faultProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
