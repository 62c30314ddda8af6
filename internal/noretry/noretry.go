// Package noretry builds Redis commands that go-redis sends at most once.
//
// go-redis retries a command, or a whole pipeline, when the connection
// fails after the command was written (EOF, a read timeout): up to
// Options.MaxRetries more times. That is right for idempotent commands and
// wrong for PUBLISH and HINCRBY, which Redis may already have run when the
// reply was lost. A command built here reports NoRetry, so go-redis runs it
// once, and a pipeline holding one is not retried either. That includes a
// failed dial or a pool timeout, which go-redis would have retried with
// backoff: such a command simply fails, and its caller counts the loss
// (PUBLISH) or tries again on its next tick (HINCRBY).
//
// The functions are safe for concurrent use; each returned command belongs
// to its caller.
package noretry

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// cmd is an IntCmd that go-redis must not send twice.
type cmd struct{ *redis.IntCmd }

// NoRetry overrides redis.Cmder's method; go-redis consults it before any retry.
func (cmd) NoRetry() bool { return true }

// Int returns a command for args with an integer reply. Pass c to
// Process (of a client or a pipeline) and read the reply from res.
func Int(ctx context.Context, args ...any) (c redis.Cmder, res *redis.IntCmd) {
	res = redis.NewIntCmd(ctx, args...)
	return cmd{res}, res
}

// Publish returns a PUBLISH of msg to channel; see Int.
func Publish(ctx context.Context, channel string, msg any) (redis.Cmder, *redis.IntCmd) {
	return Int(ctx, "publish", channel, msg)
}

// SPublish returns an SPUBLISH of msg to the shard channel channel (Redis
// Cluster's sharded pub/sub); see Int. The channel is marked as the
// command's key (position 1), so a ClusterClient sends it to the primary
// of the channel's slot whether or not it has loaded COMMAND info yet, and
// follows a MOVED or ASK redirect like for any keyed command (a redirected
// command did not run, so following it does not send it twice).
func SPublish(ctx context.Context, channel string, msg any) (redis.Cmder, *redis.IntCmd) {
	c, res := Int(ctx, "spublish", channel, msg)
	res.SetFirstKeyPos(1)
	return c, res
}

// HIncrBy returns an HINCRBY of field in key by n; see Int.
func HIncrBy(ctx context.Context, key, field string, n int64) (redis.Cmder, *redis.IntCmd) {
	return Int(ctx, "hincrby", key, field, n)
}

// anyCmd is a Cmd (any reply) that go-redis must not send twice.
type anyCmd struct{ *redis.Cmd }

// NoRetry overrides redis.Cmder's method; go-redis consults it before any retry.
func (anyCmd) NoRetry() bool { return true }

// Cmd returns a command for args with a reply of any shape (EVALSHA of a
// script that is not idempotent, for one); see Int.
func Cmd(ctx context.Context, args ...any) (c redis.Cmder, res *redis.Cmd) {
	res = redis.NewCmd(ctx, args...)
	return anyCmd{res}, res
}

// strCmd is a StringCmd that go-redis must not send twice.
type strCmd struct{ *redis.StringCmd }

// NoRetry overrides redis.Cmder's method; go-redis consults it before any retry.
func (strCmd) NoRetry() bool { return true }

// XAdd returns an XADD of one field to stream, with an automatic id and
// approximate trimming to about maxLen entries (XADD is not idempotent: a
// re-sent one appends twice); see Int.
func XAdd(ctx context.Context, stream string, maxLen int64, field string, value any) (redis.Cmder, *redis.StringCmd) {
	res := redis.NewStringCmd(ctx, "xadd", stream, "maxlen", "~", maxLen, "*", field, value)
	return strCmd{res}, res
}
