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
	retries   func()                                                       // tests: called on each resend through cc

	mu     sync.Mutex
	byAddr map[string]primary
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

// Do sends cmd through the primary of its first key's slot (firstKey), or
// through the ClusterClient when it has no key, and returns cmd.Err(). A
// resend through the ClusterClient replaces the first outcome.
func (cl *Cluster) Do(ctx context.Context, cmd redis.Cmder) error {
	key, ok := firstKey(cmd)
	if ok {
		if c, err := cl.masterFor(ctx, key); err == nil {
			if err := cl.batcher(c).Do(ctx, cmd); !resend(err) {
				return err
			}
			if cl.retries != nil {
				cl.retries()
			}
		}
	}
	return cl.cc.Process(ctx, cmd)
}

// firstKey is the key that routes cmd: the first of EVAL's and EVALSHA's
// keys, else the first argument after the command name (the commands sent
// here: SREM, SADD, HMGET, ...). Name is lower case (go-redis).
func firstKey(cmd redis.Cmder) (string, bool) {
	args := cmd.Args()
	switch cmd.Name() {
	case "eval", "evalsha", "eval_ro", "evalsha_ro":
		if len(args) < 4 {
			return "", false
		}
		if n, ok := args[2].(int); !ok || n == 0 {
			return "", false
		}
		k, ok := args[3].(string)
		return k, ok
	}
	if len(args) < 2 {
		return "", false
	}
	k, ok := args[1].(string)
	return k, ok
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
