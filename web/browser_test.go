package web_test

// TestBrowser runs web/e2e/run.mjs (Playwright driving Debian's chromium)
// against a real cluster: redis-server, three wsnode nodes and haproxy
// configured by deploy/haproxy.cfg, all on free loopback ports. It needs
// node, chromium, redis-server and haproxy; without them it skips, or
// fails when WS_REQUIRE_BROWSER=1 (.ci/run sets it).
//
//	go test -run TestBrowser -v ./web/
//
// Screenshots go to web/e2e/out/ (or $WS_BROWSER_OUT); the test logs the
// path.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsnode/wsnode/internal/freeport"
	"github.com/wsnode/wsnode/internal/haproxycfg"
)

const (
	jwtSecret = "browser-test-secret-0123456789abcdef"
	adminKey  = "browser-test-admin-key"
	// historyRooms is the --history-rooms pattern: rooms named hist-… keep
	// history, the others do not.
	historyRooms = "hist-*"
	// scenarioTimeout bounds the browser script; the scenarios take about
	// 15-25 s on a busy 2-core machine.
	scenarioTimeout = 90 * time.Second
)

// need returns the path of a program, or skips (fails under
// WS_REQUIRE_BROWSER=1) when it is missing.
func need(t *testing.T, name, hint string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("WS_REQUIRE_BROWSER") == "1" {
		t.Fatalf("%s is not installed and WS_REQUIRE_BROWSER=1: %s", name, hint)
	}
	t.Skipf("browser tests skipped: %s is not installed (%s; WS_REQUIRE_BROWSER=1 makes this a failure)", name, hint)
	return ""
}

type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// start runs a child that dies with the test process (Pdeathsig) and is
// killed at cleanup; its output is logged when the test fails.
func start(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
		}
		<-p.done
		if t.Failed() {
			t.Logf("----- %s -----\n%s", name, tail(p.log(), 40))
		}
		for _, bad := range []string{"WARNING: DATA RACE", "panic:"} {
			if strings.Contains(p.log(), bad) {
				t.Errorf("%s logged %q", name, bad)
			}
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond until it returns nil or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s still waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func httpStatus(url string) (int, error) {
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// haproxyConfig renders deploy/haproxy.cfg for the nodes (client
// addresses ws, admin addresses admin) behind 127.0.0.1:port.
func haproxyConfig(t *testing.T, port int, ws, admin []string) string {
	t.Helper()
	b, err := os.ReadFile("../deploy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]haproxycfg.Node, len(ws))
	for i := range ws {
		_, aport, _ := strings.Cut(admin[i], ":")
		nodes[i] = haproxycfg.Node{WS: ws[i], AdminPort: aport}
	}
	cfg, err := haproxycfg.Render(string(b), port, nodes)
	if err != nil {
		t.Fatalf("deploy/haproxy.cfg: %v", err)
	}
	return cfg
}

// clusterConfig is what run.mjs gets (as JSON in a file).
type clusterConfig struct {
	BaseURL    string            `json:"baseURL"`
	AdminKey   string            `json:"adminKey"`
	Nodes      []nodeConfig      `json:"nodes"`
	HAProxyPID int               `json:"haproxyPID"`
	Tokens     map[string]string `json:"tokens"`
	OutDir     string            `json:"outDir"`
	Chromium   string            `json:"chromium"`
	ProfileDir string            `json:"profileDir"`
}

type nodeConfig struct {
	ID    string `json:"id"`
	PID   int    `json:"pid"`
	WS    string `json:"ws"`
	Admin string `json:"admin"`
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	chromium := os.Getenv("WS_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		need(t, "chromium", "apt-get install -y chromium")
		chromium, _ = exec.LookPath("chromium")
	}
	nodeBin := need(t, "node", "apt-get install -y nodejs npm")
	redisBin := need(t, "redis-server", "apt-get install -y redis-server")
	haproxyBin := need(t, "haproxy", "apt-get install -y haproxy")
	goBin := need(t, "go", "install Go")
	began := time.Now()

	// Playwright: npm ci when node_modules is missing (.ci/run does it
	// beforehand).
	e2e, err := filepath.Abs("e2e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core", "package.json")); err != nil {
		npm := need(t, "npm", "apt-get install -y npm")
		t.Logf("web/e2e/node_modules missing: running npm ci")
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = e2e
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in web/e2e: %v\n%s", err, out)
		}
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "wsnode")
	build := exec.Command(goBin, "build", "-o", bin, "../cmd/wsnode")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("wsnode built in %s", time.Since(began).Round(time.Millisecond))

	ports, err := freeport.Pick(8)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }

	redisAddr := addr(0)
	redis := start(t, "redis-server", nil, redisBin, "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning")
	waitFor(t, 10*time.Second, "redis-server", func() error {
		if redis.exited() {
			return fmt.Errorf("exited: %s", redis.log())
		}
		c, err := net.DialTimeout("tcp", redisAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})

	cfg := clusterConfig{AdminKey: adminKey, Tokens: map[string]string{}, Chromium: chromium,
		ProfileDir: filepath.Join(dir, "chromium-profile")}
	var ws, admin []string
	var nodes []*proc
	for i := range 3 {
		id := fmt.Sprintf("node%d", i+1)
		n := nodeConfig{ID: id, WS: addr(1 + 2*i), Admin: addr(2 + 2*i)}
		p := start(t, id, []string{"WS_JWT_SECRET=" + jwtSecret, "WS_ADMIN_KEY=" + adminKey}, bin,
			"--addr", n.WS, "--admin-addr", n.Admin, "--node-id", id, "--redis-url", "redis://"+redisAddr+"/0",
			"--history-size", "100", "--history-ttl", "5m", "--history-rooms", historyRooms, "--presence-rooms", historyRooms,
			"--heartbeat-interval", "500ms", "--heartbeat-ttl", "2500ms", "--shutdown-timeout", "10s")
		n.PID = p.cmd.Process.Pid
		cfg.Nodes = append(cfg.Nodes, n)
		ws, admin = append(ws, n.WS), append(admin, n.Admin)
		nodes = append(nodes, p)
	}
	for i, n := range cfg.Nodes {
		waitFor(t, 20*time.Second, n.ID+" /readyz", func() error {
			if nodes[i].exited() {
				return fmt.Errorf("exited")
			}
			st, err := httpStatus("http://" + n.Admin + "/readyz")
			if err == nil && st != 200 {
				err = fmt.Errorf("status %d", st)
			}
			return err
		})
	}

	lbPort := ports[7]
	hcfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(hcfg, []byte(haproxyConfig(t, lbPort, ws, admin)), 0o600); err != nil {
		t.Fatal(err)
	}
	lb := start(t, "haproxy", nil, haproxyBin, "-db", "-f", hcfg)
	cfg.HAProxyPID = lb.cmd.Process.Pid
	cfg.BaseURL = fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	waitFor(t, 10*time.Second, "haproxy to route", func() error {
		if lb.exited() {
			return fmt.Errorf("haproxy exited: %s", lb.log())
		}
		st, err := httpStatus(cfg.BaseURL + "/")
		if err == nil && st != 200 {
			err = fmt.Errorf("status %d", st)
		}
		return err
	})

	// The pages are served without the admin key; the API is not.
	for url, want := range map[string]int{
		"http://" + admin[0] + "/ui/":        200,
		"http://" + admin[0] + "/ui/app.js":  200,
		"http://" + admin[0] + "/stats":      401,
		cfg.BaseURL + "/wsnode.js":           200,
		cfg.BaseURL + "/demo/app.js":         200,
		"http://" + admin[0] + "/ui/nothing": 404,
	} {
		if st, err := httpStatus(url); err != nil || st != want {
			t.Errorf("GET %s: %d %v, want %d", url, st, err, want)
		}
	}

	for _, user := range []string{"alice", "bob"} {
		mint := exec.Command(bin, "token", "--user", user, "--ttl", "10m")
		mint.Env = append(os.Environ(), "WS_JWT_SECRET="+jwtSecret)
		out, err := mint.Output()
		if err != nil {
			t.Fatalf("wsnode token: %v", err)
		}
		cfg.Tokens[user] = strings.TrimSpace(string(out))
	}
	// Signed with another secret: the node closes with 4500.
	bad := exec.Command(bin, "token", "--user", "mallory", "--ttl", "10m")
	bad.Env = append(os.Environ(), "WS_JWT_SECRET=not-the-cluster-secret-0123456789")
	out, err := bad.Output()
	if err != nil {
		t.Fatalf("wsnode token: %v", err)
	}
	cfg.Tokens["bad"] = strings.TrimSpace(string(out))

	cfg.OutDir = os.Getenv("WS_BROWSER_OUT")
	if cfg.OutDir == "" {
		cfg.OutDir = filepath.Join(e2e, "out")
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "cluster.json")
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster up in %s: %s, nodes %v", time.Since(began).Round(time.Millisecond), cfg.BaseURL, admin)

	// The scenarios.
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	run := exec.CommandContext(ctx, nodeBin, filepath.Join(e2e, "run.mjs"), cfgPath)
	run.Dir = e2e
	run.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	// Kill chromium with the script: the whole process group.
	run.Cancel = func() error { return syscall.Kill(-run.Process.Pid, syscall.SIGKILL) }
	stdout, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	run.Stderr = run.Stdout
	scenarios := time.Now()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	var result struct {
		OK        bool               `json:"ok"`
		Scenarios map[string]float64 `json:"scenarios"`
		Failures  []string           `json:"failures"`
		Shots     []string           `json:"screenshots"`
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	gotResult := false
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			gotResult = json.Unmarshal([]byte(rest), &result) == nil
			continue
		}
		t.Log(line)
	}
	werr := run.Wait()
	elapsed := time.Since(scenarios)
	t.Logf("browser scenarios took %s (whole test %s)", elapsed.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("run.mjs did not finish within %s", scenarioTimeout)
	}
	if !gotResult {
		t.Fatalf("run.mjs printed no RESULT line (exit: %v)", werr)
	}
	for _, f := range result.Failures {
		t.Errorf("scenario failed: %s", f)
	}
	if werr != nil || !result.OK {
		t.Fatalf("run.mjs: ok=%v, exit %v", result.OK, werr)
	}
	t.Logf("screenshots in %s: %s", cfg.OutDir, strings.Join(result.Shots, ", "))
	// The 60 s budget is reported, not asserted: on a busy machine the same
	// scenarios take longer, and a timed assertion would make the suite flaky.
	t.Logf("browser scenarios took %s (budget on an idle machine: 60 s)", elapsed.Round(time.Millisecond))
}
