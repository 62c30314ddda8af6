package cmdbatch

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Cluster batches commands for a Redis Cluster: each command goes to the
// Batcher of the primary that serves its first key's slot, so a batch is
// one plain pipeline on one primary's connection, sent on its caller's
// goroutine. (A ClusterClient pipeline sends each primary's part from a
// goroutine of its own, which costs what the batching saves.)
//
// The slot map is the ClusterClient's. A command answered with a redirect
// or a cluster-state error (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, READONLY,
// LOADING, MASTERDOWN), or that failed on the connection, is sent once more
// through the ClusterClient, which follows the redirect, retries and
// refreshes its map; so send only commands that may run twice (wsnode's
// registry scripts are idempotent). Safe for concurrent use.
type Cluster struct {
	cc        *redis.ClusterClient
	cfg       Config
	masterFor func(ctx context.Context, key string) (*redis.Client, error) // cc.MasterForKey; tests replace it

	mu      sync.Mutex
	byAddr  map[string]primary
	retries func() // tests: called on each resend through cc
}

// primary is one primary's client and its batcher.
type primary struct {
	c *redis.Client
	b *Batcher
}

// NewCluster returns a Cluster that sends through cc's primaries.
func NewCluster(cc *redis.ClusterClient, cfg Config) *Cluster {
	return &Cluster{cc: cc, cfg: cfg, masterFor: cc.MasterForKey, byAddr: map[string]primary{}}
}

// batcher returns the Batcher of c's primary; a new client for an address
// (the ClusterClient replaced it) gets a new one.
func (cl *Cluster) batcher(c *redis.Client) *Batcher {
	addr := c.Options().Addr
	cl.mu.Lock()
	defer cl.mu.Unlock()
	p, ok := cl.byAddr[addr]
	if !ok || p.c != c {
		p = primary{c: c, b: New(c, cl.cfg)}
		cl.byAddr[addr] = p
	}
	return p.b
}

// EvalSha returns an EVALSHA of sha1 with keys and args (single values, as
// Batcher.EvalSha), sent through the primary of keys[0]'s slot; without
// keys it goes through the ClusterClient.
func (cl *Cluster) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	if len(keys) == 0 {
		cmd := evalShaCmd(ctx, sha1, keys, args)
		_ = cl.cc.Process(ctx, cmd)
		return cmd
	}
	if c, err := cl.masterFor(ctx, keys[0]); err == nil {
		cmd := evalShaCmd(ctx, sha1, keys, args)
		if err := cl.batcher(c).Do(ctx, cmd); !resend(err) {
			return cmd
		}
	}
	if cl.retries != nil {
		cl.retries()
	}
	cmd := evalShaCmd(ctx, sha1, keys, args)
	_ = cl.cc.Process(ctx, cmd)
	return cmd
}

// resend reports whether a command that came back with err should go
// again through the ClusterClient: not when it succeeded or Redis ran it
// and answered with an error of its own (a script's error, NOSCRIPT).
func resend(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true // the connection failed: the node may be gone
	}
	msg := rerr.Error()
	for _, p := range []string{"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "LOADING", "MASTERDOWN"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// evalShaCmd builds an EVALSHA command.
func evalShaCmd(ctx context.Context, sha1 string, keys []string, args []any) *redis.Cmd {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, "evalsha", sha1, len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := redis.NewCmd(ctx, cmdArgs...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3) // for a ClusterClient's slot routing
	}
	return cmd
}
