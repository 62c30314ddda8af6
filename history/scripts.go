package history

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// appendSrc: KEYS stream, meta; ARGV channel, head, maxlen, ttl ms, epoch.
// head is an envelope body whose payload lacks its closing brace. The
// script takes the room's next offset (starting a new epoch, with ARGV[5],
// when the history is gone), completes the payload with offset and epoch,
// appends it to the stream, refreshes both TTLs and publishes it.
// Returns {offset, epoch, receivers}.
const appendSrc = `
local stream, meta = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'epoch', epoch)
end
local off = redis.call('HINCRBY', meta, 'offset', 1)
local body = ARGV[2] .. ',"offset":' .. off .. ',"epoch":"' .. epoch .. '"}'
redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], off .. '-0', 'e', body)
redis.call('PEXPIRE', stream, ARGV[4])
redis.call('PEXPIRE', meta, ARGV[4])
local n = redis.call('PUBLISH', ARGV[1], body)
return {off, epoch, n}
`

// readSrc: KEYS stream, meta; ARGV mode ("since" or "last"), offset, count.
// Returns {epoch, offset, first offset in the stream, id1, body1, ...}:
// with "since" the entries after offset in order, with "last" the newest
// count entries newest first. Read-only.
const readSrc = `
local stream, meta = KEYS[1], KEYS[2]
local m = redis.call('HMGET', meta, 'epoch', 'offset')
local out = {m[1] or '', tonumber(m[2]) or 0, 0}
local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
if #head > 0 then out[3] = tonumber(string.match(head[1][1], '^(%d+)')) end
local rows
if ARGV[1] == 'since' then
  rows = redis.call('XRANGE', stream, (tonumber(ARGV[2]) + 1) .. '-0', '+', 'COUNT', ARGV[3])
else
  rows = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', ARGV[3])
end
for _, r in ipairs(rows) do
  out[#out + 1] = r[1]
  out[#out + 1] = r[2][2]
end
return out
`

// appendClusterSrc is appendSrc for Redis Cluster (Config.Cluster): the
// same steps, published with SPUBLISH on the room's shard channel, which is
// in the slot of the stream and meta keys (package keyspace), so the node
// that runs the script owns the channel. A second script rather than a mode
// argument keeps single mode's script, and its SHA, unchanged.
var appendClusterSrc = strings.Replace(appendSrc, "redis.call('PUBLISH',", "redis.call('SPUBLISH',", 1)

var (
	appendScript        = redis.NewScript(appendSrc)
	appendClusterScript = redis.NewScript(appendClusterSrc)
	readScript          = redis.NewScript(readSrc)
)
