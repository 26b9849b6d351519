"""Lua scripts of the Redis job queue: each queue call is one script, so each is atomic.

Every script takes the key namespace as ``ARGV[1]`` and the queue's clock reading ``now`` as
``ARGV[2]`` (epoch seconds, from the caller: virtual time in tests). A script checks everything
before its first write, because Redis does not roll a script back when it raises half-way.

Keys under the namespace ``P`` (a ``{hash tag}``, so every key lands in one cluster slot):

==================  =========================================================================
``P:seq``           INCR counter: job ids
``P:job:<id>``      hash: every field of the job, plus ``msg`` (its stream entry id)
``P:keys``          hash: idempotency key -> job id
``P:types``         set of job types seen (one stream and consumer group each)
``P:s:<type>``      stream of due jobs of a type; consumer group ``workers``, consumer = owner
``P:delayed:<t>``   zset run_at -> id: pending jobs not yet due (new, or retrying)
``P:reclaim:<t>``   zset id -> id: due jobs whose entry is still in the group's PEL (retry or
                    expired lease): the next claim takes them over with XCLAIM
``P:pending:<t>``   zset run_at -> id: every pending job (next_due, oldest pending age)
``P:leases``        zset lease_until -> id: running jobs
``P:done``          zset finished_at -> id: done jobs (prune)
``P:counts``        hash "type|status" -> count
``P:dead``          dead-letter stream (id, type, key, error), capped
==================  =========================================================================
"""

from __future__ import annotations

__all__ = [
    "CLAIM",
    "COMPLETE",
    "ENQUEUE",
    "EXTEND",
    "FAIL",
    "GROUP",
    "NEXT_DUE",
    "PRUNE",
    "RECOVER",
    "REQUEUE",
    "STATS",
]

GROUP = "workers"

# Each script carries only the helpers it uses (``_prelude``): Lua compiles the whole script on
# every call, and a helper it defines but never calls still costs a closure.
_HEAD = """
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local GROUP = 'workers'
local function f(x) return string.format('%.17g', x) end
local NOWS = f(NOW)
local function jk(id) return P .. ':job:' .. id end
local function sk(t) return P .. ':s:' .. t end
local function cnt(t, s, d) redis.call('HINCRBY', P .. ':counts', t .. '|' .. s, d) end
"""

_PUBLISH = """
local function publish(id, t)
  local msg = redis.call('XADD', sk(t), '*', 'id', id)
  redis.call('HSET', jk(id), 'msg', msg)
end
"""

_TO_DEAD = """
local function to_dead(id, t, key, msg, err)
  if msg then redis.call('XACK', sk(t), GROUP, msg) end
  redis.call('XADD', P .. ':dead', 'MAXLEN', '~', 10000, '*',
             'id', id, 'type', t, 'key', key, 'error', err)
  redis.call('HSET', jk(id), 'status', 'dead', 'run_at', NOWS, 'finished_at', NOWS)
  redis.call('HDEL', jk(id), 'msg')
  cnt(t, 'dead', 1)
end
"""

_TO_RETRY = """
-- pending again (entry kept in the PEL): claimable at run_at through XCLAIM
local function to_retry(id, t, run_at)
  redis.call('HSET', jk(id), 'status', 'pending', 'run_at', f(run_at))
  redis.call('ZADD', P .. ':pending:' .. t, f(run_at), id)
  if run_at > NOW then
    redis.call('ZADD', P .. ':delayed:' .. t, f(run_at), id)
  else
    redis.call('ZADD', P .. ':reclaim:' .. t, id, id)
  end
  cnt(t, 'pending', 1)
end
"""

_END_LEASE = """
local function end_lease(id)
  redis.call('HDEL', jk(id), 'lease_owner', 'lease_until')
  redis.call('ZREM', P .. ':leases', id)
end
"""

_ENQUEUE = """
-- ARGV from index b: default max_attempts, parent id ('' none), then 5 fields per job.
-- Per job: its id (an integer) when this call created it (the caller knows every other field),
-- else the stored hash (flat). A new due job's XADD comes first, so its hash is one HSET.
local function enqueue(b)
  local default_max, parent = ARGV[b], ARGV[b + 1]
  local out = {}
  for i = b + 2, #ARGV, 5 do
    local t, key = ARGV[i], ARGV[i + 1]
    local id = redis.call('HGET', P .. ':keys', key)
    if id then
      out[#out + 1] = redis.call('HGETALL', jk(id))
    else
      id = redis.call('INCR', P .. ':seq')
      local run_at, at = NOW, NOWS
      if ARGV[i + 3] ~= '' then
        run_at = tonumber(ARGV[i + 3])
        at = f(run_at)
      end
      local max = ARGV[i + 4]
      if max == '' then max = default_max end
      if redis.call('SADD', P .. ':types', t) == 1 then
        redis.pcall('XGROUP', 'CREATE', sk(t), GROUP, '0', 'MKSTREAM')
      end
      local h = {'HSET', jk(id), 'id', id, 'type', t, 'key', key, 'payload', ARGV[i + 2],
                 'status', 'pending', 'attempts', 0, 'max_attempts', max, 'run_at', at,
                 'created_at', NOWS, 'updated_at', NOWS}
      if parent ~= '' then
        h[#h + 1] = 'parent_id'
        h[#h + 1] = parent
      end
      if run_at > NOW then
        redis.call('ZADD', P .. ':delayed:' .. t, at, id)
      else
        h[#h + 1] = 'msg'
        h[#h + 1] = redis.call('XADD', sk(t), '*', 'id', id)
      end
      redis.call(unpack(h))
      redis.call('HSET', P .. ':keys', key, id)
      redis.call('ZADD', P .. ':pending:' .. t, at, id)
      cnt(t, 'pending', 1)
      out[#out + 1] = id
    end
  end
  return out
end
"""

_HELD = """
-- the job's first n of: status, type, lease_owner, msg, attempts, max_attempts, key
local HELD = {'status', 'type', 'lease_owner', 'msg', 'attempts', 'max_attempts', 'key'}
local function held(id, owner, n)
  local h = redis.call('HMGET', jk(id), unpack(HELD, 1, n))
  if not h[1] then return redis.error_reply('NOTFOUND job ' .. id .. ' does not exist') end
  if h[1] ~= 'running' or h[3] ~= owner then
    return redis.error_reply('LEASELOST job ' .. id .. ' is ' .. h[1] .. ', not leased to '
                             .. owner)
  end
  return h
end
"""


def _prelude(*parts: str) -> str:
    return _HEAD + "".join(parts)


# ARGV: P, now, default max_attempts, parent ('' none), then type, key, payload, run_at, max
ENQUEUE = _prelude(_ENQUEUE) + "return enqueue(3)\n"

# ARGV: P, now, lease_until, owner, limit, types...
CLAIM = (
    _prelude(_PUBLISH)
    + """
local lease_until, owner, left = ARGV[3], ARGV[4], tonumber(ARGV[5])
local out, taken = {}, 0
-- one HGETALL before the writes: the hash as it will be after them is built here
local function take(id, t, msg)
  local flat = redis.call('HGETALL', jk(id))
  local h = {}
  for k = 1, #flat, 2 do h[flat[k]] = flat[k + 1] end
  if h.status ~= 'pending' then
    redis.call('XACK', sk(t), GROUP, msg)  -- stale entry: the job moved on without it
    return
  end
  h.attempts = tostring(tonumber(h.attempts) + 1)
  h.status, h.lease_owner, h.lease_until, h.updated_at, h.msg =
    'running', owner, lease_until, NOWS, msg
  redis.call('HSET', jk(id), 'attempts', h.attempts, 'status', 'running', 'lease_owner', owner,
             'lease_until', lease_until, 'updated_at', NOWS, 'msg', msg)
  redis.call('ZADD', P .. ':leases', lease_until, id)
  redis.call('ZREM', P .. ':pending:' .. t, id)
  local r = {}
  for k, v in pairs(h) do
    r[#r + 1] = k
    r[#r + 1] = v
  end
  out[#out + 1] = r
  taken = taken + 1
  left = left - 1
end
for i = 6, #ARGV do
  local t = ARGV[i]
  if left <= 0 then break end
  if redis.call('SISMEMBER', P .. ':types', t) == 1 then
    local dk = P .. ':delayed:' .. t
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', dk, '-inf', ARGV[2])) do
      redis.call('ZREM', dk, id)
      if redis.call('HEXISTS', jk(id), 'msg') == 1 then
        redis.call('ZADD', P .. ':reclaim:' .. t, id, id)
      else
        publish(id, t)
      end
    end
    local rk = P .. ':reclaim:' .. t
    for _, id in ipairs(redis.call('ZRANGE', rk, 0, left - 1)) do
      redis.call('ZREM', rk, id)
      local msg = redis.call('HGET', jk(id), 'msg')
      local got = redis.call('XCLAIM', sk(t), GROUP, owner, 0, msg)
      if #got > 0 then take(id, t, msg) else publish(id, t) end
    end
    if left > 0 then
      local r = redis.call('XREADGROUP', 'GROUP', GROUP, owner, 'COUNT', left,
                           'STREAMS', sk(t), '>')
      if r then
        for _, e in ipairs(r[1][2]) do take(e[2][2], t, e[1]) end
      end
    end
    if taken > 0 then  -- one count update per type, not two per job
      cnt(t, 'pending', -taken)
      cnt(t, 'running', taken)
      taken = 0
    end
  end
end
return out
"""
)

# ARGV: P, now, id, owner, default max_attempts, parent (= id), then 5 fields per output.
# One HDEL ends the lease and drops the entry id; no outputs: no enqueue at all.
COMPLETE = (
    _prelude(_ENQUEUE, _HELD)
    + """
local id = ARGV[3]
local h = held(id, ARGV[4], 4)
if h.err then return h end
redis.call('XACK', sk(h[2]), GROUP, h[4])
redis.call('HDEL', jk(id), 'lease_owner', 'lease_until', 'msg')
redis.call('ZREM', P .. ':leases', id)
redis.call('HSET', jk(id), 'status', 'done', 'finished_at', NOWS, 'updated_at', NOWS)
redis.call('ZADD', P .. ':done', NOWS, id)
cnt(h[2], 'running', -1)
cnt(h[2], 'done', 1)
if #ARGV < 7 then return {} end
return enqueue(5)
"""
)

# ARGV: P, now, id, owner, error, retryable (1/0), retry_base_s, retry_max_s
FAIL = (
    _prelude(_END_LEASE, _TO_RETRY, _TO_DEAD, _HELD)
    + """
local id, err = ARGV[3], ARGV[5]
local h = held(id, ARGV[4], 7)
if h.err then return h end
local attempts, max = tonumber(h[5]), tonumber(h[6])
end_lease(id)
cnt(h[2], 'running', -1)
redis.call('HSET', jk(id), 'last_error', err, 'updated_at', NOWS)
if ARGV[6] == '1' and attempts < max then
  local e = math.min(math.max(attempts - 1, 0), 62)
  to_retry(id, h[2], NOW + math.min(tonumber(ARGV[7]) * 2 ^ e, tonumber(ARGV[8])))
else
  to_dead(id, h[2], h[7], h[4], err)
end
return redis.call('HGETALL', jk(id))
"""
)

# ARGV: P, now, id, owner, lease_until
EXTEND = (
    _prelude()
    + """
local id = ARGV[3]
local h = redis.call('HMGET', jk(id), 'status', 'lease_owner', 'type', 'msg')
if h[1] ~= 'running' or h[2] ~= ARGV[4] then return 0 end
redis.call('HSET', jk(id), 'lease_until', ARGV[5], 'updated_at', NOWS)
redis.call('ZADD', P .. ':leases', ARGV[5], id)
-- resets the entry's PEL idle time: XPENDING shows how long since the holder's last word
redis.call('XCLAIM', sk(h[3]), GROUP, ARGV[4], 0, h[4], 'JUSTID')
return 1
"""
)

# ARGV: P, now. Expired leases (lease_until < now): pending again, or dead out of attempts.
RECOVER = (
    _prelude(_END_LEASE, _TO_RETRY, _TO_DEAD)
    + """
local ids = redis.call('ZRANGEBYSCORE', P .. ':leases', '-inf', '(' .. ARGV[2])
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', jk(id), 'status', 'type', 'lease_owner', 'msg', 'attempts',
                       'max_attempts', 'key', 'last_error')
  local err = 'lease of ' .. (h[3] or '?') .. ' lost after attempt ' .. h[5]
  if h[8] then err = err .. '\\n' .. h[8] end
  end_lease(id)
  cnt(h[2], 'running', -1)
  redis.call('HSET', jk(id), 'last_error', err, 'updated_at', NOWS)
  if tonumber(h[5]) >= tonumber(h[6]) then
    to_dead(id, h[2], h[7], h[4], err)
  else
    to_retry(id, h[2], NOW)
  end
end
return #ids
"""
)

# ARGV: P, now, id. Dead or running -> pending with attempts 0; others unchanged.
REQUEUE = (
    _prelude(_PUBLISH, _END_LEASE, _TO_RETRY)
    + """
local id = ARGV[3]
local h = redis.call('HMGET', jk(id), 'status', 'type', 'msg')
if not h[1] then return false end
if h[1] == 'dead' or h[1] == 'running' then
  end_lease(id)
  cnt(h[2], h[1], -1)
  redis.call('HSET', jk(id), 'attempts', 0, 'updated_at', NOWS)
  redis.call('HDEL', jk(id), 'finished_at')
  if h[1] == 'dead' then
    redis.call('HSET', jk(id), 'status', 'pending', 'run_at', NOWS)
    redis.call('ZADD', P .. ':pending:' .. h[2], NOWS, id)
    cnt(h[2], 'pending', 1)
    publish(id, h[2])
  else
    to_retry(id, h[2], NOW)
  end
end
return redis.call('HGETALL', jk(id))
"""
)

# ARGV: P, now, cutoff, limit. Deletes done jobs finished before cutoff; trims the streams
# (XTRIM MINID) below the oldest entry still pending or undelivered. Returns how many.
PRUNE = (
    _prelude()
    + """
local ids = redis.call('ZRANGEBYSCORE', P .. ':done', '-inf', '(' .. ARGV[3],
                       'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', jk(id), 'type', 'key')
  redis.call('DEL', jk(id))
  redis.call('ZREM', P .. ':done', id)
  if h[1] then
    redis.call('HDEL', P .. ':keys', h[2])
    cnt(h[1], 'done', -1)
  end
end
for _, t in ipairs(redis.call('SMEMBERS', P .. ':types')) do
  local pel = redis.call('XPENDING', sk(t), GROUP)
  local minid = nil
  if tonumber(pel[1]) > 0 then
    minid = pel[2]
  else
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', sk(t))) do
      for k = 1, #g, 2 do
        if g[k] == 'name' and g[k + 1] ~= GROUP then break end
        if g[k] == 'last-delivered-id' then minid = g[k + 1] end
      end
    end
  end
  if minid then redis.call('XTRIM', sk(t), 'MINID', minid) end
end
return #ids
"""
)

# ARGV: P, now. Returns {counts flat list, oldest due pending run_at or false}.
STATS = (
    _prelude()
    + """
local oldest = false
for _, t in ipairs(redis.call('SMEMBERS', P .. ':types')) do
  local r = redis.call('ZRANGEBYSCORE', P .. ':pending:' .. t, '-inf', ARGV[2],
                       'WITHSCORES', 'LIMIT', 0, 1)
  if #r > 0 and (not oldest or tonumber(r[2]) < tonumber(oldest)) then oldest = r[2] end
end
return {redis.call('HGETALL', P .. ':counts'), oldest}
"""
)

# ARGV: P, now, types... Returns the earliest pending run_at among them, or false.
NEXT_DUE = (
    _prelude()
    + """
local best = false
for i = 3, #ARGV do
  local r = redis.call('ZRANGE', P .. ':pending:' .. ARGV[i], 0, 0, 'WITHSCORES')
  if #r > 0 and (not best or tonumber(r[2]) < tonumber(best)) then best = r[2] end
end
return best
"""
)
