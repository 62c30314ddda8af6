package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT: with it, binding
// a source IP defers the port choice to connect(), so one local port can
// serve several destinations and the 28k ephemeral ports are not used up
// by bind() alone.
const ipBindAddressNoPort = 24

// dialPool dials WebSockets from a set of local source addresses. Slot i
// uses address i mod n; when that address has no free port left
// (EADDRNOTAVAIL) the next address is tried.
type dialPool struct {
	dialers []*websocket.Dialer
	srcs    []string
}

// writeBufPool lets idle connections hold no write buffer at all.
type writeBufPool struct{ p sync.Pool }

func (w *writeBufPool) Get() any  { return w.p.Get() }
func (w *writeBufPool) Put(v any) { w.p.Put(v) }

// newDialPool builds one dialer per source address.
func newDialPool(srcs []string, timeout time.Duration) (*dialPool, error) {
	wbp := &writeBufPool{}
	p := &dialPool{srcs: srcs}
	for _, s := range srcs {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("bad source address %q", s)
		}
		nd := &net.Dialer{
			LocalAddr: &net.TCPAddr{IP: ip},
			Timeout:   timeout,
			Control:   bindNoPort,
			KeepAlive: -1, // the node pings; keep-alive costs 4 setsockopt calls per dial
		}
		p.dialers = append(p.dialers, &websocket.Dialer{
			NetDialContext:   nd.DialContext,
			HandshakeTimeout: timeout,
			ReadBufferSize:   1024,
			WriteBufferSize:  512,
			WriteBufferPool:  wbp,
		})
	}
	return p, nil
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT; failure to set it is harmless.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	return rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
}

// dial opens the WebSocket for slot i.
func (p *dialPool) dial(ctx context.Context, url string, i int) (*websocket.Conn, error) {
	n := len(p.dialers)
	var err error
	for k := 0; k < n; k++ {
		var c *websocket.Conn
		c, _, err = p.dialers[(i+k)%n].DialContext(ctx, url, nil)
		if err == nil || !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return c, err
		}
	}
	return nil, err
}
