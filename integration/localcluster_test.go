package integration

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// localCluster is what deploy/local-cluster.sh printed.
type localCluster struct {
	clientURL, adminKey, token, moreTokens, logs string
	banner                                       string // the first line
	adminURLs                                    []string
}

// TestLocalClusterScript runs deploy/local-cluster.sh (with the test's
// wsnode binary), connects two clients through its haproxy with the token
// it printed and one minted by the command it printed, exchanges a room
// message, then sends the script SIGINT (a Ctrl-C) and checks that every
// process it started is gone and its temporary directory removed.
func TestLocalClusterScript(t *testing.T) {
	t.Parallel()
	runLocalClusterScript(t, "single", 5) // redis-server, 3 nodes, haproxy
}

// TestLocalClusterScriptRedisCluster: the same with WS_REDIS_MODE=cluster,
// which makes the script start a Redis Cluster of 3 primaries and 3
// replicas and run the nodes in cluster mode.
func TestLocalClusterScriptRedisCluster(t *testing.T) {
	t.Parallel()
	requireTool(t, "redis-cli")
	runLocalClusterScript(t, "cluster", 10) // 6 redis-servers, 3 nodes, haproxy
}

func runLocalClusterScript(t *testing.T, mode string, procs int) {
	requireTool(t, "haproxy")
	requireTool(t, "redis-server")
	cmd := exec.Command("bash", "../deploy/local-cluster.sh", "--log-level", "debug")
	cmd.Env = append(envWithoutWS(), "WSNODE_BIN="+wsnodeBin, "NODES=3", "WS_REDIS_MODE="+mode)
	// Its own process group: the SIGINT below reaches the script only, as a
	// Ctrl-C reaches only the script when its children run in their own
	// sessions.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr logBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	var children []int
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
		for _, pid := range children {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("----- stderr of local-cluster.sh -----\n%s", stderr.String())
		}
	})

	lc := readLocalCluster(t, lines, &stderr)
	children = descendants(cmd.Process.Pid)
	if len(children) < procs {
		t.Fatalf("the script runs %d processes (%v), want at least %d", len(children), children, procs)
	}
	if !strings.Contains(lc.banner, "Redis ("+mode+")") {
		t.Errorf("the script says %q, want Redis (%s)", lc.banner, mode)
	}

	// The admin URLs and key work; the nodes see each other.
	if len(lc.adminURLs) != 3 {
		t.Fatalf("admin URLs %v, want 3", lc.adminURLs)
	}
	for _, u := range lc.adminURLs {
		n := &wsNode{id: u, adminAddr: strings.TrimPrefix(u, "http://")}
		var nd nodesDoc
		if err := getWithKey(n, lc.adminKey, "/nodes", &nd); err != nil {
			t.Fatal(err)
		}
		if nd.Count != 3 {
			t.Fatalf("%s /nodes: %d nodes, want 3", u, nd.Count)
		}
	}

	// Alice with the printed token, bob with one from the printed command.
	out, err := exec.Command("sh", "-c", lc.moreTokens).Output()
	if err != nil {
		t.Fatalf("%q: %v", lc.moreTokens, err)
	}
	alice := dialWith(t, lc.clientURL, "alice", dialOpts{})
	bob := dialWith(t, lc.clientURL, "bob", dialOpts{})
	for _, c := range []struct {
		cl       *wsClient
		tok, who string
	}{{alice, lc.token, "alice"}, {bob, strings.TrimSpace(string(out)), "bob"}} {
		f := c.cl.request(map[string]any{"type": "auth", "token": c.tok}, "authenticated")
		if f.User != c.who {
			t.Fatalf("authenticated as %q, want %q", f.User, c.who)
		}
		c.cl.join("lobby")
	}
	// The script runs --rooms-policy claim: the printed tokens name their rooms.
	alice.joinRefused("dm.bob.secret", "forbidden")
	alice.join("dm.alice.notes")
	bob.send(map[string]any{"type": "message", "room": "lobby", "data": "hi through haproxy"})
	for _, c := range []*wsClient{alice, bob} {
		f := c.expect("message", wait, hasData("hi through haproxy"))
		if f.From.User != "bob" {
			t.Fatalf("%s got %s, want it from bob", c.name, f.raw)
		}
	}
	t.Logf("alice on %s, bob on %s", alice.nodeID, bob.nodeID)

	// Ctrl-C: the script stops everything and exits.
	stopped = true
	start := time.Now()
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("script exit after SIGINT: %v, want status 130", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the script did not exit within 30 s of SIGINT")
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	for _, pid := range children {
		if alive(pid) {
			t.Errorf("process %d (%s) still runs after the script exited", pid, procName(pid))
		}
	}
	if _, err := os.Stat(lc.logs); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the script's directory %s is still there (%v)", lc.logs, err)
	}
}

// readLocalCluster reads the script's output up to its last line,
// "Ctrl-C stops everything ...".
func readLocalCluster(t *testing.T, lines <-chan string, stderr *logBuffer) localCluster {
	t.Helper()
	var lc localCluster
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the script ended before it was ready:\n%s", stderr.String())
			}
			key, val, _ := strings.Cut(line, ": ")
			switch key {
			case "wsnode local cluster":
				lc.banner = val
			case "client URL":
				lc.clientURL = val
			case "admin URL":
				u, _, _ := strings.Cut(val, " ")
				lc.adminURLs = append(lc.adminURLs, u)
			case "admin key":
				lc.adminKey = val
			case "token":
				lc.token = val
			case "more tokens":
				lc.moreTokens = val
			case "logs":
				lc.logs = val
			}
			if strings.HasPrefix(line, "Ctrl-C stops everything") {
				if lc.clientURL == "" || lc.adminKey == "" || lc.token == "" || lc.moreTokens == "" || lc.logs == "" {
					t.Fatalf("incomplete output: %+v", lc)
				}
				return lc
			}
		case <-timeout:
			t.Fatalf("the script was not ready after 60 s:\n%s", stderr.String())
		}
	}
}

func getWithKey(n *wsNode, key, path string, out any) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+n.adminAddr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s%s: status %d", n.adminAddr, path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// envWithoutWS is the test's environment without WS_ variables, which the
// script would pass on to the nodes.
func envWithoutWS() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WS_") {
			env = append(env, kv)
		}
	}
	return env
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for c, pp := range parent {
			if pp == p {
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(pid)
	return out
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

func procName(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
}
