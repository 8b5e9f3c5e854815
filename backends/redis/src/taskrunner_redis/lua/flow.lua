-- Flow control (limits and rates), shared by every script after common.lua. A limit or rate
-- key holds within its queue, so all its keys sit under the queue's hash tag (keys.py):
--   running:<key>                 set: the ids of running jobs holding a slot of a limit key
--   starts:<key>                  sorted set: the latest starts of a rate key ('id:attempt'
--                                 by start time), at most rate_max of them
--   held:<kind>:<prio>:<key>      sorted set: jobs of one priority level set aside by a claim
--                                 for a limit or a rate key (kind 'limit' or 'rate'), or by
--                                 an enqueue for a limit key (park, below), by due time then
--                                 id, as the ready sets order them
--   held-prios:<kind>:<key>       sorted set: the priority levels holding such jobs
--   held                          sorted set: every held job of the queue by due time
--                                 (stats, purge, the longest-waiting due job)
--   flow                          hash: per key with held jobs, the numbers its releases use:
--                                 'limit:<key>' and 'rate:<key>' the largest max, 'per:<key>'
--                                 the shortest window (us) among its held jobs (so a rolling
--                                 deploy that changes them over-releases rather than stalls)
--   opens                         sorted set: rate keys with held jobs, by when their window
--                                 next admits a start (claim and next_due release them then)
--   backlog:<key>                 hash: per priority level, how many jobs of a limit key an
--                                 enqueue stored due in a ready set since a slot of the key
--                                 last freed or a queued job of it was cancelled or purged
--   backlogs                      set: the limit keys with such counts
-- A held job stays queued (and in the waiting index) with its field `held` set to the kind.

local function held_key(q, kind, prio, key)
  return queue_key(q, 'held:' .. kind .. ':' .. prio .. ':' .. key)
end

local function held_prios_key(q, kind, key)
  return queue_key(q, 'held-prios:' .. kind .. ':' .. key)
end

local function running_key(q, key) return queue_key(q, 'running:' .. key) end
local function starts_key(q, key) return queue_key(q, 'starts:' .. key) end
local function backlog_key(q, key) return queue_key(q, 'backlog:' .. key) end

-- A slot of the key freed, or a queued job of it left: its backlog counts start again.
local function forget_backlog(q, key)
  if redis.call('DEL', backlog_key(q, key)) == 1 then
    redis.call('SREM', queue_key(q, 'backlogs'), key)
  end
end

-- Every limit key's backlog counts start again (a job hash was deleted by hand).
local function forget_backlogs(q)
  for _, key in ipairs(redis.call('SMEMBERS', queue_key(q, 'backlogs'))) do
    redis.call('DEL', backlog_key(q, key))
  end
  redis.call('DEL', queue_key(q, 'backlogs'))
end

-- a rate's window in microseconds, from rate_per as stored (seconds, as Python wrote it)
local function window_us(per)
  return math.max(math.floor((tonumber(per) or 0) * 1000000 + 0.5), 1)
end

-- a job's max as stored; a missing or broken one counts as 1 (the strictest)
local function flow_max(value) return math.max(math.floor(tonumber(value) or 1), 1) end

-- What this script run wrote already, so that setting aside many jobs of one key (a claim
-- meeting a backlog) writes each key's level and numbers once: flow fields and held levels.
local flow_written, levels_written = {}, {}
resets[#resets + 1] = function() flow_written, levels_written = {}, {} end

-- keep in the flow hash the larger (or, `smaller` set, the smaller) of the stored and `value`
local function keep_extreme(field, value, smaller, q)
  local known = flow_written[field]
  if known and ((smaller and known <= value) or (not smaller and known >= value)) then return end
  local stored = tonumber(redis.call('HGET', queue_key(q, 'flow'), field))
  if not stored or (smaller and value < stored) or (not smaller and value > stored) then
    redis.call('HSET', queue_key(q, 'flow'), field, value)
    stored = value
  end
  flow_written[field] = stored
end

-- Note that a key holds jobs at the level `level` (priority `prio`), with these numbers.
local function note_level(kind, q, key, prio, level, max, per_us)
  if not levels_written[level] then
    redis.call('ZADD', held_prios_key(q, kind, key), tonumber(prio), prio)
    levels_written[level] = true
  end
  keep_extreme(kind .. ':' .. key, max, false, q)
  if kind == 'rate' then keep_extreme('per:' .. key, per_us, true, q) end
end

-- Set a due job aside for a limit or rate key; the caller takes it out of its ready set.
local function hold(kind, id, q, key, prio, run_at, max, per_us)
  redis.call('HSET', job_key(q, id), 'held', kind)
  local level = held_key(q, kind, prio, key)
  redis.call('ZADD', level, run_at, id)
  redis.call('ZADD', queue_key(q, 'held'), run_at, id)
  note_level(kind, q, key, prio, level, max, per_us)
end

-- Once a key has no held job left, forget its numbers and its next opening.
local function forget_if_none_held(kind, q, key)
  if redis.call('EXISTS', held_prios_key(q, kind, key)) == 1 then return end
  flow_written[kind .. ':' .. key] = nil
  if kind == 'rate' then
    flow_written['per:' .. key] = nil
    redis.call('HDEL', queue_key(q, 'flow'), 'rate:' .. key, 'per:' .. key)
    redis.call('ZREM', queue_key(q, 'opens'), key)
  else
    redis.call('HDEL', queue_key(q, 'flow'), 'limit:' .. key)
  end
end

-- Take ids out of one held level of a key (their hashes are the caller's business).
local function unhold_level(kind, q, key, prio, ids)
  local level = held_key(q, kind, prio, key)
  chunked('ZREM', level, ids, 1000)
  chunked('ZREM', queue_key(q, 'held'), ids, 1000)
  if redis.call('EXISTS', level) == 0 then
    redis.call('ZREM', held_prios_key(q, kind, key), prio)
    levels_written[level] = nil
  end
end

-- Take one held job out of its key's held sets, for good (cancel, purge).
local function unhold(kind, id, q, key, prio)
  unhold_level(kind, q, key, prio, {id})
  redis.call('HDEL', job_key(q, id), 'held')
  forget_if_none_held(kind, q, key)
end

-- Move the best `n` held jobs of a key back to their ready sets (priority, due time, id),
-- clearing their `held`, and wake as many workers. A hash deleted by hand is moved too (the
-- claim drops it) but does not count against `n`. Answers how many were moved.
local function release(kind, q, key, n)
  local moved = 0
  local levels = held_prios_key(q, kind, key)
  for _, prio in ipairs(redis.call('ZRANGE', levels, 0, -1)) do
    local level = held_key(q, kind, prio, key)
    while moved < n do
      local got = redis.call('ZRANGE', level, 0, n - moved - 1, 'WITHSCORES')
      if #got == 0 then break end
      local ids = {}
      for j = 1, #got, 2 do
        ids[#ids + 1] = got[j]
        moved = moved + redis.call('HDEL', job_key(q, got[j]), 'held')
        put_ready(got[j], q, prio, tonumber(got[j + 1]))
      end
      unhold_level(kind, q, key, prio, ids)
    end
    if moved >= n then break end
  end
  forget_if_none_held(kind, q, key)
  if moved > 0 then wake(q, moved) end
  return moved
end

-- Ids of running jobs in a limit key's set that no longer hold a lease (their hash deleted
-- by hand, say) free their slot. `taken` lists the ids this script run claimed, whose leases
-- are written at its end. Answers how many slots are held.
local function prune_running(q, key, taken)
  local running = running_key(q, key)
  local members = redis.call('SMEMBERS', running)
  if #members == 0 then return 0 end
  local leases = redis.call('ZMSCORE', queue_key(q, 'leases'), unpack(members))
  local stale = {}
  for i, id in ipairs(members) do
    if not leases[i] and not (taken and taken[id]) then stale[#stale + 1] = id end
  end
  if #stale > 0 then chunked('SREM', running, stale, 1000) end
  return #members - #stale
end

-- Release the held jobs of a limit key that its free slots admit (after a slot freed).
local function release_limit(q, key)
  local max = redis.call('HGET', queue_key(q, 'flow'), 'limit:' .. key)
  if not max then return end -- nothing held
  local free = tonumber(max) - redis.call('SCARD', running_key(q, key))
  if free > 0 then release('limit', q, key, free) end
end

-- The slot of a job's attempt frees (its attempt ended, or reclaim put it back).
local function free_slot(id, q, key)
  redis.call('SREM', running_key(q, key), id)
  forget_backlog(q, key)
  release_limit(q, key)
end

-- Starts of a rate key within the window that ends now.
local function starts_in_window(q, key, now, per_us)
  return redis.call('ZCOUNT', starts_key(q, key), '(' .. fmt(now - per_us), '+inf')
end

-- When the window of a rate key admits a start again: once the start `max` places before
-- the newest in the window has left it (or, if there are fewer, a window from now).
local function next_opening(q, key, now, max, per_us, count)
  if count == 0 then return now + per_us end
  local rank = math.max(count - max, 0)
  local oldest = redis.call('ZRANGEBYSCORE', starts_key(q, key), '(' .. fmt(now - per_us), '+inf',
                            'WITHSCORES', 'LIMIT', rank, 1)
  return tonumber(oldest[2]) + per_us
end

-- The rate keys whose window has opened by `now` release what it admits; a key with held
-- jobs left gets its next opening.
local function open_windows(q, now)
  local opens = queue_key(q, 'opens')
  for _, key in ipairs(redis.call('ZRANGEBYSCORE', opens, '-inf', now)) do
    local numbers = redis.call('HMGET', queue_key(q, 'flow'), 'rate:' .. key, 'per:' .. key)
    if not numbers[1] then
      redis.call('ZREM', opens, key) -- nothing held
    else
      local max, per_us = flow_max(numbers[1]), math.max(tonumber(numbers[2]) or 1, 1)
      local count = starts_in_window(q, key, now, per_us)
      if count < max then release('rate', q, key, max - count) end
      if redis.call('EXISTS', held_prios_key(q, 'rate', key)) == 1 then
        redis.call('ZADD', opens, next_opening(q, key, now, max, per_us, count), key)
      end
    end
  end
end

-- when the first rate window of the queue with held jobs opens, or false
local function next_window_opening(q)
  local first = redis.call('ZRANGE', queue_key(q, 'opens'), 0, 0, 'WITHSCORES')
  return first[2] and tonumber(first[2]) or false
end

-- Record a start of a rate key, keeping the latest `max`; the set outlives its window a bit.
local function record_start(q, key, id, attempt, now, max, per_us)
  local starts = starts_key(q, key)
  redis.call('ZADD', starts, now, id .. ':' .. attempt)
  redis.call('ZREMRANGEBYRANK', starts, 0, -(max + 1))
  redis.call('PEXPIRE', starts, math.ceil(per_us / 1000) + 1000)
end

-- Every limit key with held jobs drops the slots no lease backs, and releases what frees
-- (reclaim, after it met a lease of a job that was not running: a hash changed by hand).
local function prune_limit_keys(q)
  for _, field in ipairs(redis.call('HKEYS', queue_key(q, 'flow'))) do
    local key = string.match(field, '^limit:(.*)$')
    if key then
      prune_running(q, key, nil)
      release_limit(q, key)
    end
  end
end

-- Take a waiting job out of the set it waits in (its ready set, or its key's held set), for
-- good (cancel, purge).
local function unwait(id, q, prio, held, limit_key, rate_key)
  local key = (held == 'limit' and limit_key) or (held == 'rate' and rate_key)
  if key then unhold(held, id, q, key, prio) else take_ready(id, q, prio) end
  if limit_key then forget_backlog(q, limit_key) end
end

-- Setting aside at enqueue. A claim that meets a long backlog of one limit key sets its jobs
-- aside one by one; a new job that would only be set aside there is stored held instead, so
-- no claim meets it: a job due now (no delay, no `at`, no dependency to wait on) whose key
-- already holds jobs at its priority level (they come first in the same order, and a freed
-- slot releases them, then it), or behind max + PARK_MARGIN jobs of its key and level that
-- enqueues made ready (its backlog count, see above). Each of those is still ready (a claim
-- will meet it), held behind running jobs, running, or gone: since a finish, a reclaim, a
-- cancel or a purge of a job of the key resets its counts and releases what its free slots
-- admit, and a claim that meets a job whose hash was deleted by hand resets every key's
-- counts and releases what their free slots admit, the job stored held is released in turn.
local PARK_MARGIN = 100
local level_held, counts = {}, {} -- per run: level -> holds jobs; backlog field -> count
resets[#resets + 1] = function() level_held, counts = {}, {} end

-- Whether a new due job of limit key `key` at priority `prio` is stored held (see above);
-- if not, it is counted in its key's backlog.
local function parks(q, prio, key, max)
  local level = held_key(q, 'limit', prio, key)
  local held = level_held[level]
  if held == nil then
    held = levels_written[level] or redis.call('EXISTS', level) == 1
    level_held[level] = held
  end
  if held then return true end
  local backlog = backlog_key(q, key)
  local field = backlog .. '/' .. prio
  local ahead = counts[field] or tonumber(redis.call('HGET', backlog, prio)) or 0
  if ahead >= flow_max(max) + PARK_MARGIN then return true end
  if ahead == 0 then redis.call('SADD', queue_key(q, 'backlogs'), key) end
  redis.call('HINCRBY', backlog, prio, 1)
  counts[field] = ahead + 1
  return false
end

-- Store a new job held for its limit key (its hash carries held = 'limit' already).
local function park(id, q, prio, key, run_at, max)
  local level = held_key(q, 'limit', prio, key)
  later_zadd(level, run_at, id)
  later_zadd(queue_key(q, 'held'), run_at, id)
  level_held[level] = true
  note_level('limit', q, key, prio, level, flow_max(max))
end
