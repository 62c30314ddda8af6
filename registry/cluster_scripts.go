package registry

import "github.com/redis/go-redis/v9"

// The cluster-mode scripts (Config.Cluster). Unlike scripts.go, every script
// gets all of its keys through KEYS, so go-redis routes it by the first key
// and Redis Cluster runs it; the keys of one call always share one hash slot
// (an entity with its own kind's bucket, see internal/keyspace). A change
// that spans slots is a sequence of these scripts, ordered as
// docs/redis-cluster.md says. Every script is idempotent and returns a
// non-nil value (a nil reply would read as redis.Nil in a pipeline).

// cNodeAddSrc (node slot): KEYS nodes bucket, nodeconns; ARGV node, ids...
// The node joins its index bucket and the ids its connection set: the first
// step of a registration.
const cNodeAddSrc = `
redis.call('SADD', KEYS[1], ARGV[1])
if #ARGV > 1 then redis.call('SADD', KEYS[2], unpack(ARGV, 2)) end
return 0
`

// cNodeDoneSrc (node slot): KEYS heartbeat, nodeconns, nodes bucket; ARGV
// node, mode ("reap" or "drain"). The last step of reaping or draining a
// node: in reap mode returns -1 if the heartbeat is back; otherwise returns
// how many ids are left in the node's set, and when none, removes the node
// from its index bucket (and in drain mode deletes its heartbeat).
const cNodeDoneSrc = `
if ARGV[2] == 'reap' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local left = redis.call('SCARD', KEYS[2])
if left == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  if ARGV[2] == 'drain' then redis.call('DEL', KEYS[1]) end
end
return left
`

// cConnReadSrc (connection slot): KEYS conn, connrooms. Returns {exists,
// node, user, user_pending, inc, connected_at, type, rooms...}; missing
// fields are "".
const cConnReadSrc = `
local f = redis.call('HMGET', KEYS[1], 'node', 'user', 'user_pending', 'inc', 'connected_at', 'type')
local out = {redis.call('EXISTS', KEYS[1])}
for i = 1, 6 do out[#out + 1] = f[i] or '' end
for _, room in ipairs(redis.call('SMEMBERS', KEYS[2])) do out[#out + 1] = room end
return out
`

// cConnWriteSrc (connection slot): KEYS conn, connrooms, conns bucket; ARGV
// id, node, user, type, state, ip, connected_at, authenticated_at,
// last_activity, msgs_in, msgs_out, inc, rooms... The registration's
// connection step: the record matches the arguments (counters and
// connected_at are kept when it exists, last_activity only moves forward,
// user_pending goes), the rooms set is exactly rooms, the id is indexed.
const cConnWriteSrc = `
local id = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then
  local f = {'node', ARGV[2], 'user', ARGV[3], 'type', ARGV[4], 'state', ARGV[5],
    'ip', ARGV[6], 'authenticated_at', ARGV[8], 'connected_at', ARGV[7],
    'msgs_in', ARGV[10], 'msgs_out', ARGV[11], 'inc', ARGV[12]}
  if tonumber(ARGV[9]) > 0 then
    f[#f + 1] = 'last_activity'
    f[#f + 1] = ARGV[9]
  end
  redis.call('HSET', KEYS[1], unpack(f))
else
  redis.call('HSET', KEYS[1], 'node', ARGV[2], 'user', ARGV[3], 'type', ARGV[4], 'state', ARGV[5],
    'ip', ARGV[6], 'authenticated_at', ARGV[8], 'inc', ARGV[12])
  redis.call('HDEL', KEYS[1], 'user_pending')
  redis.call('HSETNX', KEYS[1], 'connected_at', ARGV[7])
  redis.call('HSETNX', KEYS[1], 'msgs_in', ARGV[10])
  redis.call('HSETNX', KEYS[1], 'msgs_out', ARGV[11])
  local la = tonumber(redis.call('HGET', KEYS[1], 'last_activity')) or 0
  if tonumber(ARGV[9]) > la then redis.call('HSET', KEYS[1], 'last_activity', ARGV[9]) end
end
redis.call('DEL', KEYS[2])
if #ARGV > 12 then redis.call('SADD', KEYS[2], unpack(ARGV, 13)) end
redis.call('SADD', KEYS[3], id)
return 0
`

// cConnDeleteSrc (connection slot): KEYS conn, connrooms, conns bucket,
// activity bucket; ARGV id. The removal's connection step: deletes the
// record, the rooms set, the index and activity entries. Returns {existed
// (1 if the record or the index entry was there), user, type, rooms...}:
// the atomic delete makes existed 1 for exactly one caller.
const cConnDeleteSrc = `
local f = redis.call('HMGET', KEYS[1], 'user', 'type')
local existed = redis.call('EXISTS', KEYS[1])
local rooms = redis.call('SMEMBERS', KEYS[2])
local inSet = redis.call('SREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HDEL', KEYS[4], ARGV[1])
local out = {0, f[1] or '', f[2] or ''}
if existed == 1 or inSet == 1 then out[1] = 1 end
for _, room in ipairs(rooms) do out[#out + 1] = room end
return out
`

// cConnPendingSrc (connection slot): KEYS conn; ARGV user, replace.
// Authenticate's first step. Returns {code, user, user_pending} as they
// were: code -1 (codeNotFound) if the record is gone; 1 (codeStalePending)
// if user_pending names a third user (neither ARGV user, nor the record's
// user, nor replace), which the caller must first drop from that user's
// set, and then call again with it as replace; else 0, and user_pending =
// ARGV user.
const cConnPendingSrc = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, '', ''} end
local f = redis.call('HMGET', KEYS[1], 'user', 'user_pending')
local user, pending = f[1] or '', f[2] or ''
if pending ~= '' and pending ~= ARGV[1] and pending ~= user and pending ~= ARGV[2] then
  return {1, user, pending}
end
redis.call('HSET', KEYS[1], 'user_pending', ARGV[1])
return {0, user, pending}
`

// codeStalePending is cConnPendingSrc's "drop the stale user first".
const codeStalePending = 1

// cConnUnpendSrc (connection slot): KEYS conn; ARGV user. Undoes
// cConnPendingSrc after a refusal: drops user_pending if it is user.
const cConnUnpendSrc = `
if redis.call('HGET', KEYS[1], 'user_pending') == ARGV[1] then redis.call('HDEL', KEYS[1], 'user_pending') end
return 0
`

// cConnAuthSrc (connection slot): KEYS conn; ARGV user, type, at.
// Authenticate's last step: -1 if the record is gone, else the record gets
// user, type and state and drops user_pending.
const cConnAuthSrc = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'type', ARGV[2], 'state', 'authenticated', 'authenticated_at', ARGV[3])
redis.call('HDEL', KEYS[1], 'user_pending')
return 0
`

// cConnJoinSrc (connection slot): KEYS conn, connrooms; ARGV room. Join's
// first step: -1 if the record is gone, else the room joins the rooms set.
const cConnJoinSrc = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('SADD', KEYS[2], ARGV[1])
return 0
`

// cSetStateSrc (connection slot): KEYS conn; ARGV state.
const cSetStateSrc = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
return 0
`

// cUserAddSrc (user slot): KEYS user, users bucket; ARGV user, id, max,
// excluded ids... Adds the id to the user's set and the user to its index
// bucket. With max > 0 it first counts the user's other connections, less
// the excluded ones (found dead by the caller); at max or more it returns
// {-2, other ids...} and changes nothing. Else {0}.
const cUserAddSrc = `
local id, max = ARGV[2], tonumber(ARGV[3])
if max > 0 then
  local n = redis.call('SCARD', KEYS[1])
  if redis.call('SISMEMBER', KEYS[1], id) == 1 then n = n - 1 end
  for i = 4, #ARGV do
    if ARGV[i] ~= id and redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1 then n = n - 1 end
  end
  if n >= max then
    local out = {-2}
    for _, other in ipairs(redis.call('SMEMBERS', KEYS[1])) do
      if other ~= id then out[#out + 1] = other end
    end
    return out
  end
end
redis.call('SADD', KEYS[1], id)
redis.call('SADD', KEYS[2], ARGV[1])
return {0}
`

// cUserDropSrc (user slot): KEYS user, users bucket; ARGV user, id. The
// user's last connection takes the user out of its index bucket.
const cUserDropSrc = `
redis.call('SREM', KEYS[1], ARGV[2])
if redis.call('SCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 0
`

// cRoomAddSrc (room slot): KEYS room, roommeta, rooms bucket; ARGV room,
// id, at, join ("1": last_activity = at; else only if unset).
const cRoomAddSrc = `
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSETNX', KEYS[2], 'created_at', ARGV[3])
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[2], 'last_activity', ARGV[3])
else
  redis.call('HSETNX', KEYS[2], 'last_activity', ARGV[3])
end
return 0
`

// cRoomDropSrc (room slot): KEYS room, roommeta, rooms bucket; ARGV room,
// id, at ("" = leave last_activity alone). The room's last member deletes
// its metadata and index entry; otherwise a given at becomes last_activity.
// Never creates keys.
const cRoomDropSrc = `
redis.call('SREM', KEYS[1], ARGV[2])
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[1])
elseif ARGV[3] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'last_activity', ARGV[3])
end
return 0
`

// cPeakSrc (peak slot): KEYS peak; ARGV sampled active count. Raises the
// peak to the sample if it is higher; returns the peak.
const cPeakSrc = `
local n = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1])) or 0
if n > cur then
  redis.call('SET', KEYS[1], n)
  return n
end
return cur
`

var (
	cNodeAddScript     = redis.NewScript(cNodeAddSrc)
	cNodeDoneScript    = redis.NewScript(cNodeDoneSrc)
	cConnReadScript    = redis.NewScript(cConnReadSrc)
	cConnWriteScript   = redis.NewScript(cConnWriteSrc)
	cConnDeleteScript  = redis.NewScript(cConnDeleteSrc)
	cConnPendingScript = redis.NewScript(cConnPendingSrc)
	cConnUnpendScript  = redis.NewScript(cConnUnpendSrc)
	cConnAuthScript    = redis.NewScript(cConnAuthSrc)
	cConnJoinScript    = redis.NewScript(cConnJoinSrc)
	cSetStateScript    = redis.NewScript(cSetStateSrc)
	cUserAddScript     = redis.NewScript(cUserAddSrc)
	cUserDropScript    = redis.NewScript(cUserDropSrc)
	cRoomAddScript     = redis.NewScript(cRoomAddSrc)
	cRoomDropScript    = redis.NewScript(cRoomDropSrc)
	cPeakScript        = redis.NewScript(cPeakSrc)
)

// clusterScripts are every cluster-mode script, loaded on every primary when
// a pipeline meets NOSCRIPT; see (*Registry).cpipe.
var clusterScripts = []*redis.Script{
	cNodeAddScript, cNodeDoneScript, cConnReadScript, cConnWriteScript, cConnDeleteScript,
	cConnPendingScript, cConnUnpendScript, cConnAuthScript, cConnJoinScript, cSetStateScript,
	cUserAddScript, cUserDropScript, cRoomAddScript, cRoomDropScript, cPeakScript,
}
