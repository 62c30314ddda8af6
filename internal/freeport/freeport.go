// Package freeport picks loopback TCP ports for servers that tests and the
// benchmark scripts start as separate processes (redis-server, wsnode).
//
// A port from net.Listen("127.0.0.1:0") comes from the kernel's ephemeral
// range, the same range connect(2) draws the local ports of outgoing
// connections from. Between closing that probe listener and the child
// process binding the port, any outgoing connection on the machine (a Redis
// client, a WebSocket client of another test) may take it, and the child
// fails with "address already in use". Pick therefore chooses ports below
// the ephemeral range, which the kernel never hands out by itself, at
// random, and checks that each is free by binding it.
//
// Safe for concurrent use; a process never gets the same port twice.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

const (
	// low is the lowest port Pick hands out: above the well-known and the
	// common registered ports.
	low = 20000
	// ephemeralRangeFile holds Linux's ephemeral range ("32768\t60999").
	ephemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"
	// minSpan is the fewest ports below the ephemeral range worth picking
	// from; with fewer, Pick falls back to the kernel's choice.
	minSpan = 2000
	// tries bounds the random probes per port.
	tries = 200
)

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Pick returns n distinct loopback TCP ports that were free when it
// returned. Where the ephemeral range is unknown or leaves too little room
// below it, the ports come from the kernel's choice of a free port instead.
func Pick(n int) ([]int, error) {
	mu.Lock()
	defer mu.Unlock()
	hi := ephemeralLow()
	ports := make([]int, 0, n)
	for range n {
		p, err := pickOne(low, hi)
		if err != nil {
			return nil, err
		}
		handed[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}

// pickOne finds one free port in [lo, hi), or from the kernel when the
// range is too small. Called with mu held.
func pickOne(lo, hi int) (int, error) {
	if hi-lo < minSpan {
		return kernelPort()
	}
	for range tries {
		p := lo + rand.IntN(hi-lo)
		if handed[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // in use
		}
		_ = l.Close()
		return p, nil
	}
	return 0, fmt.Errorf("freeport: no free port in [%d, %d) after %d tries", lo, hi, tries)
}

// kernelPort asks the kernel for a free port, skipping ones handed out.
func kernelPort() (int, error) {
	for range tries {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("freeport: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !handed[p] {
			return p, nil
		}
	}
	return 0, errors.New("freeport: the kernel keeps offering ports already handed out")
}

// ephemeralLow returns the first port of the kernel's ephemeral range, or
// 0 when it is unknown (not Linux).
func ephemeralLow() int {
	b, err := os.ReadFile(ephemeralRangeFile)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	v, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return v
}
