package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsnode/wsnode/internal/freeport"
)

const (
	testJWTSecret = "integration-secret-0123456789abcdef"
	testAdminKey  = "integration-admin-key"
)

// requireTool returns the path of an external program, or skips the test
// when it is missing, unless WS_REQUIRE_REDIS=1 (then the test fails).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("WS_REQUIRE_REDIS") == "1" {
		t.Fatalf("%s is not on PATH and WS_REQUIRE_REDIS=1: install it (apt-get install -y %s)", name, debPackage(name))
	}
	t.Skipf("%s is not on PATH: skipping (install it with apt-get install -y %s, or set WS_REQUIRE_REDIS=1 to make this a failure)", name, debPackage(name))
	return ""
}

func debPackage(tool string) string {
	if tool == "redis-server" {
		return "redis-server"
	}
	return tool
}

// freePort returns a loopback TCP port that was free a moment ago, from
// below the ephemeral range so no outgoing connection takes it before the
// child process binds it (internal/freeport).
func freePort(t *testing.T) int {
	t.Helper()
	ports, err := freeport.Pick(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

// waitFor polls cond every 25ms until it returns nil or timeout passes; it
// then fails the test with the last error.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := poll(timeout, cond); err != nil {
		t.Fatalf("after %s still waiting for %s: %v", timeout, what, err)
	}
}

func poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is one child process with its captured output.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    *logBuffer
	done   chan struct{}
	waited error
}

func startProc(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.waited = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() || testing.Verbose() && os.Getenv("WS_INTEGRATION_LOGS") == "1" {
			t.Logf("----- log of %s -----\n%s", p.name, p.log.String())
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(s os.Signal) { _ = p.cmd.Process.Signal(s) }

// kill SIGKILLs the process and waits for it.
func (p *proc) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", p.name, timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.waited, &ee) {
		return ee.ExitCode()
	}
	if p.waited != nil {
		t.Fatalf("%s: %v", p.name, p.waited)
	}
	return 0
}

// ---------------------------------------------------------------- redis

type redisServer struct {
	port int
	p    *proc
}

// startRedis starts a private, non-persistent redis-server on port (0 = a
// free one), with extra arguments (e.g. --replicaof). It never touches the
// default 6379.
func startRedis(t *testing.T, port int, extra ...string) *redisServer {
	t.Helper()
	bin := requireTool(t, "redis-server")
	if port == 0 {
		port = freePort(t)
	}
	r := &redisServer{port: port}
	r.p = startProc(t, fmt.Sprintf("redis-server:%d", port), nil, bin, append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--loglevel", "warning",
		// A replica's full sync writes an RDB file: into the test's directory, not the package's.
		"--dir", t.TempDir()}, extra...)...)
	waitFor(t, 10*time.Second, "redis-server to answer PING", func() error {
		if r.p.exited() {
			return fmt.Errorf("redis-server exited: %s", r.p.log.String())
		}
		return r.ping()
	})
	return r
}

func (r *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *redisServer) ping() error {
	c, err := net.DialTimeout("tcp", r.addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// ---------------------------------------------------------------- nodes

// nodeOpts are per-node settings on top of the defaults of startNode.
type nodeOpts struct {
	// fast lowers the heartbeat interval and TTL so that reaping and
	// readiness changes take about a second instead of the defaults' 6-10 s.
	fast bool
	// redisAddr overrides the Redis address (e.g. a fault proxy).
	redisAddr string
	// extra flags.
	args []string
}

// Fast timings. The reap interval (2 s) is not a flag, so a crashed node's
// entries disappear within TTL + 2 s + one reap.
const (
	fastHeartbeat = 500 * time.Millisecond
	fastTTL       = 2500 * time.Millisecond
)

type wsNode struct {
	id        string
	wsAddr    string
	adminAddr string
	args      []string // command line, for restart
	p         *proc
}

func (n *wsNode) wsURL() string { return "ws://" + n.wsAddr + "/ws" }

func startNode(t *testing.T, id string, redis *redisServer, o nodeOpts) *wsNode {
	t.Helper()
	n := &wsNode{id: id,
		wsAddr:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		adminAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	raddr := o.redisAddr
	if raddr == "" {
		raddr = redis.addr()
	}
	args := []string{
		"--addr", n.wsAddr, "--admin-addr", n.adminAddr, "--node-id", id,
		"--redis-url", "redis://" + raddr + "/0", "--jwt-secret", testJWTSecret,
		"--admin-key", testAdminKey, "--log-level", "debug",
		"--shutdown-timeout", "10s",
	}
	if o.fast {
		args = append(args, "--heartbeat-interval", fastHeartbeat.String(), "--heartbeat-ttl", fastTTL.String())
	}
	args = append(args, o.args...)
	n.args = args
	n.p = startProc(t, "wsnode "+id, nil, wsnodeBin, args...)
	t.Cleanup(func() { checkLogs(t, n.p) })
	n.waitReady(t, 15*time.Second)
	return n
}

// restart starts a new process with the node's id, ports and flags; the old
// one must have exited (the ports are reused). It does not wait for
// readiness.
func (n *wsNode) restart(t *testing.T) {
	t.Helper()
	p := startProc(t, "wsnode "+n.id+" (restarted)", nil, wsnodeBin, n.args...)
	t.Cleanup(func() { checkLogs(t, p) })
	n.p = p
}

// checkLogs fails the test when a node reported a data race or a panic.
func checkLogs(t *testing.T, p *proc) {
	p.kill()
	l := p.log.String()
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "concurrent write to websocket"} {
		if strings.Contains(l, bad) {
			t.Errorf("%s logged %q", p.name, bad)
		}
	}
}

func (n *wsNode) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, n.id+" /readyz 200", func() error {
		if n.p.exited() {
			return fmt.Errorf("%s exited", n.id)
		}
		st, body, err := n.admin("GET", "/readyz", nil)
		if err != nil {
			return err
		}
		if st != 200 {
			return fmt.Errorf("status %d: %s", st, body)
		}
		return nil
	})
}

// cluster is a redis-server and N nodes named n0..n(N-1) (with a prefix).
type cluster struct {
	redis *redisServer
	nodes []*wsNode
}

func startCluster(t *testing.T, n int, o nodeOpts) *cluster {
	t.Helper()
	c := &cluster{redis: startRedis(t, 0)}
	for i := range n {
		c.nodes = append(c.nodes, startNode(t, fmt.Sprintf("n%d", i), c.redis, o))
	}
	return c
}

// ---------------------------------------------------------------- admin API

// httpClient keeps no idle connections, so nothing outlives a test.
var httpClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

func (n *wsNode) admin(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+n.adminAddr+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// getJSON GETs path and decodes a 200 answer into out.
func (n *wsNode) getJSON(path string, out any) error {
	st, b, err := n.admin("GET", path, nil)
	if err != nil {
		return err
	}
	if st != 200 {
		return fmt.Errorf("%s GET %s: status %d: %s", n.id, path, st, b)
	}
	return json.Unmarshal(b, out)
}

// status returns the status code of GET path.
func (n *wsNode) status(path string) (int, error) {
	st, _, err := n.admin("GET", path, nil)
	return st, err
}

// mustAdmin runs an admin request and checks its status.
func (n *wsNode) mustAdmin(t *testing.T, method, path string, body any, want int) []byte {
	t.Helper()
	st, b, err := n.admin(method, path, body)
	if err != nil {
		t.Fatalf("%s %s %s: %v", n.id, method, path, err)
	}
	if st != want {
		t.Fatalf("%s %s %s: status %d, want %d: %s", n.id, method, path, st, want, b)
	}
	return b
}

// metric returns the value of a Prometheus sample (name with labels as
// printed, e.g. `wsnode_errors_total{kind="slow_consumer"}`), or 0.
func (n *wsNode) metric(name string) (float64, error) {
	st, b, err := n.admin("GET", "/metrics", nil)
	if err != nil {
		return 0, err
	}
	if st != 200 {
		return 0, fmt.Errorf("/metrics status %d", st)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	// A missing metric is an error: a check against it must not pass
	// because the name changed.
	return 0, fmt.Errorf("%s: /metrics has no %s", n.id, name)
}

// Admin API answers, reduced to what the tests look at.
type statsDoc struct {
	Scope             string           `json:"scope"`
	NodeID            string           `json:"node_id"`
	ActiveConnections int64            `json:"active_connections"`
	PeakConnections   int64            `json:"peak_connections"`
	UniqueUsers       int64            `json:"unique_users"`
	Rooms             int64            `json:"rooms"`
	Nodes             int64            `json:"nodes"`
	MessagesByType    map[string]int64 `json:"messages_by_type"`
	ErrorsByKind      map[string]int64 `json:"errors_by_kind"`
	Counters          map[string]int64 `json:"counters"`
	MessagesTotal     int64            `json:"messages_total"`
}

type roomDoc struct {
	Name        string   `json:"name"`
	ConnIDs     []string `json:"conn_ids"`
	Users       []string `json:"users"`
	Connections int      `json:"connections"`
}

type connDoc struct {
	ID     string   `json:"id"`
	NodeID string   `json:"node_id"`
	User   string   `json:"user"`
	Type   string   `json:"type"`
	State  string   `json:"state"`
	Rooms  []string `json:"rooms"`
}

type userDoc struct {
	Name  string    `json:"name"`
	Conns []connDoc `json:"conns"`
}

type nodesDoc struct {
	Nodes []struct {
		ID          string `json:"id"`
		Alive       bool   `json:"alive"`
		Connections int    `json:"connections"`
	} `json:"nodes"`
	Count int `json:"count"`
}

type roomsDoc struct {
	Rooms []struct {
		Name        string `json:"name"`
		Connections int    `json:"connections"`
	} `json:"rooms"`
	Count int `json:"count"`
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

var killSignal = syscall.SIGKILL

func contains(s, sub string) bool { return strings.Contains(s, sub) }
