package rediscluster

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsnode/wsnode/internal/freeport"
)

// StartUncreated starts o's redis-servers with cluster mode enabled but
// does not join them: every node answers, reports cluster_enabled:1 and
// cluster_state:fail, and serves no slot, as while an operator is still
// creating the cluster. Create joins them later. tb is skipped when the
// Redis binaries are missing.
func StartUncreated(tb testing.TB, o Options) *Cluster {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Skip("redis-server not found on PATH; skipping Redis Cluster test")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		tb.Skip("redis-cli not found on PATH; skipping Redis Cluster test")
	}
	if o.Primaries == 0 {
		o.Primaries = 3
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = time.Second
	}
	total := o.Primaries * (1 + o.Replicas)
	ports, err := freeport.Pick(2 * total)
	if err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	c := &Cluster{}
	for i := range total {
		n := &Node{Port: ports[2*i], BusPort: ports[2*i+1], dir: tb.TempDir(), bin: bin}
		c.Nodes = append(c.Nodes, n)
		if err := n.start(o.NodeTimeout); err != nil {
			tb.Fatalf("rediscluster: %v", err)
		}
		tb.Cleanup(n.Kill)
	}
	for _, n := range c.Nodes {
		if err := waitPing(n, 10*time.Second); err != nil {
			tb.Fatalf("rediscluster: %v", err)
		}
	}
	return c
}

// Create joins the nodes of a cluster from StartUncreated with
// `redis-cli --cluster create` (o.Replicas replicas per primary, as given
// to StartUncreated) and waits up to 60 s for it to become healthy.
func (c *Cluster) Create(tb testing.TB, o Options) {
	tb.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Skip("redis-cli not found on PATH; skipping Redis Cluster test")
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(o.Replicas), "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("rediscluster: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := c.WaitHealthy(60 * time.Second); err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
}
