// Package resptest provides a fake Redis server for tests of failure
// handling. It is imported only by tests.
package resptest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server speaks just enough RESP2 for a go-redis client to connect, and
// closes the connection instead of replying to any command it is told to
// drop: the command ran, but its reply was lost. Every other unknown
// command gets an error reply. It is safe for concurrent use.
type Server struct {
	ln   net.Listener
	drop map[string]bool
	wg   sync.WaitGroup

	mu    sync.Mutex
	calls map[string]int
	conns map[net.Conn]struct{}
}

// MustLossyServer starts a Server that drops the connection after reading
// any of the commands named in drop (lower case), and stops it when tb ends.
func MustLossyServer(tb testing.TB, drop ...string) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{ln: ln, drop: map[string]bool{}, calls: map[string]int{}, conns: map[net.Conn]struct{}{}}
	for _, d := range drop {
		s.drop[d] = true
	}
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Calls reports how many times the server has read command name (lower case).
func (s *Server) Calls(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func (s *Server) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		name := strings.ToLower(args[0])
		s.mu.Lock()
		s.calls[name]++
		s.mu.Unlock()
		if s.drop[name] {
			return
		}
		if _, err := io.WriteString(c, reply(name)); err != nil {
			return
		}
	}
}

func reply(name string) string {
	switch name {
	case "ping":
		return "+PONG\r\n"
	case "client", "select":
		return "+OK\r\n"
	case "publish", "hincrby":
		return ":1\r\n"
	}
	return "-ERR unknown command '" + name + "'\r\n"
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	n, err := readLen(r, '*')
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, errors.New("resptest: empty command")
	}
	args := make([]string, n)
	for i := range args {
		size, err := readLen(r, '$')
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:size])
	}
	return args, nil
}

func readLen(r *bufio.Reader, kind byte) (int, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) < 2 || line[0] != kind {
		return 0, fmt.Errorf("resptest: want %q line, got %q", kind, line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > 1<<20 {
		return 0, fmt.Errorf("resptest: bad length %q", line)
	}
	return n, nil
}
