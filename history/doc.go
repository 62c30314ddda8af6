// Package history keeps the recent messages of chosen rooms in Redis Streams,
// so that a client that reconnects, or a node whose pub/sub connection broke,
// can read what it missed.
//
// # Model
//
// A room with history has two keys, both expiring after Config.TTL of
// silence:
//
//	P:history:{<room>}      STREAM, one entry per message, trimmed to about Config.Size
//	P:historymeta:{<room>}  HASH: epoch (random id), offset (last offset handed out)
//
// The braces are a Redis Cluster hash tag: both keys (and a sharded room
// channel named with the same tag) live in one slot. Names cannot contain
// braces (package registry), so the tag is always the whole room name.
//
// In Redis Cluster mode (Config.Cluster) the keys are package keyspace's,
// {P:r<b>}:history:<room> and {P:r<b>}:historymeta:<room>, tagged with the
// room's bucket like the room's shard channel {P:r<b>}:ch:room:<room>, and
// the append script publishes with SPUBLISH on that channel: the script's
// keys and channel are in one slot, so the primary that runs it owns the
// channel (Redis 7.0 accepts that), and no plain PUBLISH is ever sent.
// Everything else (offsets, epochs, reads, Recover) is the same.
//
// Every message gets the next offset of its room, an integer that only
// grows. The epoch is created together with the room's history; when the
// history is lost (expired, Redis restarted without persistence, flushed)
// the next message starts a new epoch, and offsets of the old epoch mean
// nothing any more.
//
// # One round trip
//
// Append and publish are one Lua script (Store.Queue): it takes the next
// offset, completes the message with offset and epoch, adds it to the
// stream and PUBLISHes it (SPUBLISH in cluster mode). So a message is in the history if and only if it
// was published, and a history room costs one Redis call per message like a
// room without history.
//
// # Concurrency
//
// A *Store is safe for concurrent use; it holds no state but its
// configuration. Ordering between messages of one room is Redis' order of
// execution of the scripts.
package history
