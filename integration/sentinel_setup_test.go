package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// sentinelMaster is the master name every test sentinel monitors.
const sentinelMaster = "m"

// sentinelTier is a primary, its replicas and the sentinels that watch them,
// all on free loopback ports.
type sentinelTier struct {
	primary   *redisServer
	replicas  []*redisServer
	sentinels []*redisServer // port and process; redisServer.ping works on a sentinel too
}

// startSentinelTier starts a primary with nReplicas replicas and
// nSentinels sentinels (quorum), and waits until every sentinel knows the
// replicas and the other sentinels, so that a failover can be elected.
func startSentinelTier(t *testing.T, nReplicas, nSentinels, quorum int) *sentinelTier {
	t.Helper()
	st := &sentinelTier{primary: startRedis(t, 0)}
	for range nReplicas {
		st.replicas = append(st.replicas, startRedis(t, 0, "--replicaof", "127.0.0.1", strconv.Itoa(st.primary.port)))
	}
	for range nSentinels {
		st.sentinels = append(st.sentinels, startSentinel(t, st.primary.port, quorum))
	}
	waitFor(t, 30*time.Second, "the sentinels to know every replica and each other", func() error {
		for _, s := range st.sentinels {
			f, err := sentinelMasterInfo(s)
			if err != nil {
				return err
			}
			if f["num-slaves"] != strconv.Itoa(nReplicas) || f["num-other-sentinels"] != strconv.Itoa(nSentinels-1) {
				return fmt.Errorf("sentinel %d: num-slaves %s, num-other-sentinels %s", s.port, f["num-slaves"], f["num-other-sentinels"])
			}
		}
		for _, r := range st.replicas {
			if err := replicaInSync(r); err != nil {
				return err
			}
		}
		return nil
	})
	return st
}

// startSentinel starts `redis-server <conf> --sentinel` with a config of
// its own (a sentinel rewrites its config file) monitoring the primary.
func startSentinel(t *testing.T, primaryPort, quorum int) *redisServer {
	t.Helper()
	bin := requireTool(t, "redis-server")
	port := freePort(t)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	text := fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode no
loglevel warning
dir %s
sentinel monitor %s 127.0.0.1 %d %d
sentinel down-after-milliseconds %[3]s 1000
sentinel failover-timeout %[3]s 5000
sentinel parallel-syncs %[3]s 1
`, port, filepath.Dir(conf), sentinelMaster, primaryPort, quorum)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &redisServer{port: port}
	s.p = startProc(t, fmt.Sprintf("redis-sentinel:%d", port), nil, bin, conf, "--sentinel")
	waitFor(t, 10*time.Second, "the sentinel to answer PING", func() error {
		if s.p.exited() {
			return fmt.Errorf("sentinel exited: %s", s.p.log.String())
		}
		return s.ping()
	})
	return s
}

// failoverURL is the sentinel-mode --redis-url of the tier.
func (st *sentinelTier) failoverURL() string {
	u := fmt.Sprintf("redis://%s/0?master_name=%s", st.sentinels[0].addr(), sentinelMaster)
	for _, s := range st.sentinels[1:] {
		u += "&addr=" + s.addr()
	}
	return u
}

// masterAddr asks a sentinel where the primary is.
func masterAddr(s *redisServer) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := c.GetMasterAddrByName(ctx, sentinelMaster).Result()
	if err != nil {
		return "", err
	}
	return r[0] + ":" + r[1], nil
}

// sentinelMasterInfo returns SENTINEL MASTER <name> as a map.
func sentinelMasterInfo(s *redisServer) (map[string]string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Master(ctx, sentinelMaster).Result()
}

// replicaInSync reports nil once the replica's link to its primary is up.
func replicaInSync(r *redisServer) error {
	c := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "master_link_status:up") {
		return fmt.Errorf("replica %d: link to the primary not up", r.port)
	}
	return nil
}

// TestSentinelBadConfig: a Redis mode that does not match the server, or an
// unsupported one, stops the node at start with exit status 1 and a
// message that says what is wrong; a sentinel that cannot be reached does
// not: the node runs and reports /readyz 503 until one answers.
func TestSentinelBadConfig(t *testing.T) {
	t.Parallel()
	st := startSentinelTier(t, 0, 1, 1)
	sentinelURL := fmt.Sprintf("redis://%s/0?master_name=%s", st.sentinels[0].addr(), sentinelMaster)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"sentinel mode, plain redis", []string{"--redis-mode", "sentinel", "--redis-url", "redis://" + st.primary.addr() + "/0?master_name=m"}, "is not a Redis Sentinel"},
		{"single mode, sentinel port", []string{"--redis-url", "redis://" + st.sentinels[0].addr() + "/0"}, "is a Redis Sentinel: use --redis-mode sentinel"},
		{"sentinel mode, unknown master", []string{"--redis-mode", "sentinel", "--redis-url", strings.Replace(sentinelURL, "master_name=m", "master_name=other", 1)}, "monitors no master named"},
		{"sentinel mode, no master_name", []string{"--redis-mode", "sentinel", "--redis-url", "redis://" + st.sentinels[0].addr() + "/0"}, "has no master_name"},
		{"cluster mode, plain redis", []string{"--redis-mode", "cluster", "--redis-url", "redis://" + st.primary.addr()}, "is not a Redis Cluster node (cluster_enabled:0)"},
		{"cluster mode, sentinel", []string{"--redis-mode", "cluster", "--redis-url", "redis://" + st.sentinels[0].addr()}, "is a Redis Sentinel: use --redis-mode sentinel"},
	} {
		args := append([]string{"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--jwt-secret", testJWTSecret}, tc.args...)
		p := startProc(t, "wsnode "+tc.name, nil, wsnodeBin, args...)
		if code := p.wait(t, 20*time.Second); code != 1 {
			t.Errorf("%s: exit status %d, want 1:\n%s", tc.name, code, p.log.String())
		} else if !strings.Contains(p.log.String(), tc.want) {
			t.Errorf("%s: the log does not say %q:\n%s", tc.name, tc.want, p.log.String())
		}
	}

	// Nothing listens on the sentinel port: the node starts, stays unready
	// and does not crash.
	down := fmt.Sprintf("redis://127.0.0.1:%d/0?master_name=m", freePort(t))
	n := &wsNode{id: "unreachable", wsAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), adminAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	n.p = startProc(t, "wsnode unreachable sentinel", nil, wsnodeBin, "--addr", n.wsAddr, "--admin-addr", n.adminAddr,
		"--jwt-secret", testJWTSecret, "--admin-key", testAdminKey, "--redis-mode", "sentinel", "--redis-url", down)
	t.Cleanup(func() { checkLogs(t, n.p) })
	waitFor(t, wait, "/readyz 503 with no sentinel reachable", func() error { return wantStatus(n, "/readyz", 503) })
	time.Sleep(2 * time.Second) // a few retries later it still runs, unready
	if err := wantStatus(n, "/readyz", 503); err != nil || n.p.exited() {
		t.Fatalf("with no sentinel reachable: %v (exited %v), want a running node answering 503", err, n.p.exited())
	}
	if !strings.Contains(n.p.log.String(), "redis sentinel not reachable yet") {
		t.Errorf("the log does not say that no sentinel is reachable:\n%s", n.p.log.String())
	}
}
