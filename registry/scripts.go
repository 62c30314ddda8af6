package registry

import "github.com/redis/go-redis/v9"

// Every script receives the key prefix as ARGV[1] and builds its keys with
// the same layout as Keys. Keys are built inside Lua because the set of
// touched keys (a connection's rooms, its user) is only known in Redis; this
// is fine for a single Redis or a replicated primary, not for Redis Cluster.
//
// All scripts are idempotent: running one twice leaves the same state.

// luaLib is prepended to every mutating script.
const luaLib = `
local P = ARGV[1]
local function key(kind, name) return P .. ':' .. kind .. ':' .. name end
local function fixed(name) return P .. ':' .. name end

local function dropRoomMember(room, id)
  local rk = key('room', room)
  redis.call('SREM', rk, id)
  if redis.call('SCARD', rk) == 0 then
    redis.call('DEL', key('roommeta', room))
    redis.call('SREM', fixed('rooms'), room)
  end
end

local function dropUserConn(user, id)
  local uk = key('user', user)
  redis.call('SREM', uk, id)
  if redis.call('SCARD', uk) == 0 then
    redis.call('SREM', fixed('users'), user)
  end
end

local function addRoomMember(room, id, at)
  redis.call('SADD', key('room', room), id)
  redis.call('SADD', key('connrooms', id), room)
  redis.call('SADD', fixed('rooms'), room)
  redis.call('HSETNX', key('roommeta', room), 'created_at', at)
end

-- connLive reports whether a connection counts as held by a live process:
-- its node's heartbeat exists, was written by the same incarnation that
-- registered the connection (a restarted node's predecessor is dead), and is
-- not older than 1.5 heartbeat intervals (a node that missed a beat is
-- presumed dead here, before its TTL runs out). Records or heartbeats
-- written before incarnations existed count as live.
local function connLive(id)
  local f = redis.call('HMGET', key('conn', id), 'node', 'inc')
  if not f[1] then return false end
  local hk = key('node', f[1])
  local hb = redis.call('GET', hk)
  if not hb then return false end
  local ok, rec = pcall(cjson.decode, hb)
  if not ok or type(rec) ~= 'table' then return true end
  if f[2] and rec.inc and rec.inc ~= f[2] then return false end
  local ttl, every = tonumber(rec.ttl_ms), tonumber(rec.interval_ms)
  if ttl and every and every > 0 then
    local left = redis.call('PTTL', hk)
    if left >= 0 and ttl - left > every * 3 / 2 then return false end
  end
  return true
end

-- removeConn deletes every trace of one connection; returns 1 if it existed.
local function removeConn(id)
  local ck = key('conn', id)
  local existed = redis.call('EXISTS', ck)
  local node = redis.call('HGET', ck, 'node')
  local user = redis.call('HGET', ck, 'user')
  for _, room in ipairs(redis.call('SMEMBERS', key('connrooms', id))) do
    dropRoomMember(room, id)
  end
  if user and user ~= '' then dropUserConn(user, id) end
  if node then redis.call('SREM', key('nodeconns', node), id) end
  local inSet = redis.call('SREM', fixed('conns'), id)
  redis.call('DEL', ck, key('connrooms', id))
  redis.call('HDEL', fixed('activity'), id)
  if existed == 1 or inSet == 1 then return 1 end
  return 0
end
`

// registerSrc: ARGV P, id, node, user, type, state, ip, connected_at,
// authenticated_at, last_activity, msgs_in, msgs_out, now, inc, nrooms, rooms...
// Makes the connection's record match the arguments exactly (user, rooms,
// node), keeps counters and older timestamps already in Redis, updates peak.
const registerSrc = luaLib + `
local id, node, user = ARGV[2], ARGV[3], ARGV[4]
local ck = key('conn', id)
local inc = ARGV[14]
local nr = tonumber(ARGV[15])

local function indexAndPeak()
  if user ~= '' then
    redis.call('SADD', key('user', user), id)
    redis.call('SADD', fixed('users'), user)
  end
  redis.call('SADD', fixed('conns'), id)
  redis.call('SADD', key('nodeconns', node), id)
  redis.call('SADD', fixed('nodes'), node)
  local n = redis.call('SCARD', fixed('conns'))
  local peak = tonumber(redis.call('GET', fixed('peak'))) or 0
  if n > peak then redis.call('SET', fixed('peak'), n) end
  return n
end

-- A brand-new connection without rooms (every upgrade): nothing to
-- reconcile, so one HSET writes the whole record.
if nr == 0 and redis.call('EXISTS', ck, key('connrooms', id)) == 0 then
  local f = {'node', node, 'user', user, 'type', ARGV[5], 'state', ARGV[6],
    'ip', ARGV[7], 'authenticated_at', ARGV[9], 'connected_at', ARGV[8],
    'msgs_in', ARGV[11], 'msgs_out', ARGV[12], 'inc', inc}
  if tonumber(ARGV[10]) > 0 then -- as the general path: last_activity only moves forward from 0
    f[#f + 1] = 'last_activity'
    f[#f + 1] = ARGV[10]
  end
  redis.call('HSET', ck, unpack(f))
  return indexAndPeak()
end

local oldNode = redis.call('HGET', ck, 'node')
if oldNode and oldNode ~= node then redis.call('SREM', key('nodeconns', oldNode), id) end
local oldUser = redis.call('HGET', ck, 'user')
if oldUser and oldUser ~= '' and oldUser ~= user then dropUserConn(oldUser, id) end

redis.call('HSET', ck, 'node', node, 'user', user, 'type', ARGV[5], 'state', ARGV[6],
  'ip', ARGV[7], 'authenticated_at', ARGV[9], 'inc', inc)
redis.call('HSETNX', ck, 'connected_at', ARGV[8])
redis.call('HSETNX', ck, 'msgs_in', ARGV[11])
redis.call('HSETNX', ck, 'msgs_out', ARGV[12])
local la = tonumber(redis.call('HGET', ck, 'last_activity')) or 0
if tonumber(ARGV[10]) > la then redis.call('HSET', ck, 'last_activity', ARGV[10]) end

local now = ARGV[13]
local want = {}
for i = 1, nr do want[ARGV[15 + i]] = true end
for _, room in ipairs(redis.call('SMEMBERS', key('connrooms', id))) do
  if not want[room] then
    redis.call('SREM', key('connrooms', id), room)
    dropRoomMember(room, id)
  end
end
for i = 1, nr do
  local room = ARGV[15 + i]
  addRoomMember(room, id, now)
  redis.call('HSETNX', key('roommeta', room), 'last_activity', now)
end
return indexAndPeak()
`

// Status codes returned by scripts that can refuse.
const (
	codeOK        = 0
	codeNotFound  = -1
	codeUserLimit = -2
)

// authenticateSrc: ARGV P, id, user, type, at, max.
const authenticateSrc = luaLib + `
local id, user = ARGV[2], ARGV[3]
local ck = key('conn', id)
if redis.call('EXISTS', ck) == 0 then return -1 end
local uk = key('user', user)
local max = tonumber(ARGV[6])
if max > 0 then
  local n = redis.call('SCARD', uk)
  if redis.call('SISMEMBER', uk, id) == 1 then n = n - 1 end
  if n >= max then
    -- Over the limit on paper: count only connections whose node is alive,
    -- so a crashed node's connections never lock their user out.
    n = 0
    for _, other in ipairs(redis.call('SMEMBERS', uk)) do
      if other ~= id and connLive(other) then n = n + 1 end
    end
    if n >= max then return -2 end
  end
end
local old = redis.call('HGET', ck, 'user')
if old and old ~= '' and old ~= user then dropUserConn(old, id) end
redis.call('HSET', ck, 'user', user, 'type', ARGV[4], 'state', 'authenticated', 'authenticated_at', ARGV[5])
redis.call('SADD', uk, id)
redis.call('SADD', fixed('users'), user)
return 0
`

// joinSrc: ARGV P, id, room, at.
const joinSrc = luaLib + `
local id, room, at = ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', key('conn', id)) == 0 then return -1 end
addRoomMember(room, id, at)
redis.call('HSET', key('roommeta', room), 'last_activity', at)
return 0
`

// leaveSrc: ARGV P, id, room, at. Idempotent; never creates keys.
const leaveSrc = luaLib + `
local id, room, at = ARGV[2], ARGV[3], ARGV[4]
redis.call('SREM', key('connrooms', id), room)
dropRoomMember(room, id)
local mk = key('roommeta', room)
if redis.call('EXISTS', mk) == 1 then redis.call('HSET', mk, 'last_activity', at) end
return 0
`

// setStateSrc: ARGV P, id, state.
const setStateSrc = luaLib + `
local ck = key('conn', ARGV[2])
if redis.call('EXISTS', ck) == 0 then return -1 end
redis.call('HSET', ck, 'state', ARGV[3])
return 0
`

// unregisterSrc: ARGV P, id.
const unregisterSrc = luaLib + `
return removeConn(ARGV[2])
`

// evictSrc: ARGV P, node, count, mode ("reap" or "drain").
// evictSrc: ARGV P, node, count, mode, now (ms), events stream (” = none),
// events maxlen.
// Pops up to count ids from the node's set and removes each connection that
// still belongs to that node. In reap mode it first re-checks that the
// heartbeat is missing and returns {-1, 0} if the node is alive, and it
// appends a disconnect event (reason "reaped") for each removed
// authenticated connection to the events stream when one is given: the pop
// makes each removal, and so each event, happen exactly once however many
// nodes reap. When the set is empty the node leaves P:nodes (and in drain
// mode its heartbeat goes).
// Returns {removed, left, then per removed connection: id, user, type,
// rooms joined by ","}.
const evictSrc = luaLib + `
local node, mode, now, stream = ARGV[2], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local hb, nk = key('node', node), key('nodeconns', node)
if mode == 'reap' and redis.call('EXISTS', hb) == 1 then return {-1, 0} end
local removed, out = 0, {}
for _, id in ipairs(redis.call('SPOP', nk, tonumber(ARGV[3]))) do
  local ck = key('conn', id)
  local f = redis.call('HMGET', ck, 'node', 'user', 'type')
  local owner, user, ctype = f[1], f[2] or '', f[3] or ''
  if (not owner) or owner == node then
    local rooms = redis.call('SMEMBERS', key('connrooms', id))
    if removeConn(id) == 1 then
      removed = removed + 1
      table.insert(out, id)
      table.insert(out, user)
      table.insert(out, ctype)
      table.insert(out, table.concat(rooms, ','))
      if mode == 'reap' and stream ~= '' and user ~= '' then
        local ev = cjson.encode({type = 'disconnect', ts = now, node_id = node, conn_id = id,
          user = user, conn_type = ctype, reason = 'reaped'})
        redis.call('XADD', stream, 'MAXLEN', '~', ARGV[7], '*', 'event', ev)
      end
    end
  end
end
local left = redis.call('SCARD', nk)
if left == 0 then
  redis.call('SREM', fixed('nodes'), node)
  if mode == 'drain' then redis.call('DEL', hb) end
end
local res = {removed, left}
for _, v in ipairs(out) do table.insert(res, v) end
return res
`

// dropStaleSrc: ARGV P, node, cutoff ms, inc, dropForeign ("1"/"0"), ids...
// Removes ids of the node's set that the node no longer holds. One that this
// incarnation registered at or after cutoff is kept (it may postdate the
// caller's snapshot); one registered by another incarnation of the node id
// is removed only with dropForeign (that process is known to be dead); an
// id without a record is always removed. Returns the number removed.
const dropStaleSrc = luaLib + `
local node, cutoff, inc, dropForeign = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1'
local nk = key('nodeconns', node)
local removed = 0
for i = 6, #ARGV do
  local id = ARGV[i]
  if redis.call('SISMEMBER', nk, id) == 1 then
    local ck = key('conn', id)
    local f = redis.call('HMGET', ck, 'connected_at', 'inc', 'node')
    local at, owner = tonumber(f[1]), f[3]
    local stale
    if not owner then
      stale = true
    elseif f[2] == inc then
      stale = (not at) or at < cutoff
    else
      stale = dropForeign
    end
    if stale then
      redis.call('SREM', nk, id)
      if (not owner) or owner == node then removed = removed + removeConn(id) end
    end
  end
end
return removed
`

var (
	registerScript     = redis.NewScript(registerSrc)
	authenticateScript = redis.NewScript(authenticateSrc)
	joinScript         = redis.NewScript(joinSrc)
	leaveScript        = redis.NewScript(leaveSrc)
	setStateScript     = redis.NewScript(setStateSrc)
	unregisterScript   = redis.NewScript(unregisterSrc)
	evictScript        = redis.NewScript(evictSrc)
	dropStaleScript    = redis.NewScript(dropStaleSrc)
)

// pipelinedScripts are the scripts sent with EvalSha inside pipelines, where
// go-redis cannot fall back to EVAL per command; see (*Registry).pipelined.
var pipelinedScripts = []*redis.Script{registerScript, unregisterScript, dropStaleScript}
