-- Shared by every function of the library (library.py puts it first). Each function is
-- called with ARGV[1], the key prefix; every one but the worker registry's works on one
-- queue, named by ARGV[2], and touches only keys under that queue's hash tag {queue} (one
-- Redis Cluster slot); KEYS[1] is one of them, so a cluster client routes the call to the
-- node holding the queue.
-- Times are integer microseconds since the epoch on the Redis clock. Numbers are passed to
-- redis.call as Lua numbers (converted exactly) or as their text(); never concatenate a time
-- into a string (Lua prints it with 14 digits).
--
-- A library's top-level locals outlive a call: each function starts with begin(prefix),
-- which sets P and empties the state the previous call gathered. Each piece of per-call
-- state registers its reset in `resets` where it is declared.
local P
local resets = {}

local function begin(prefix)
  P = prefix
  for i = 1, #resets do resets[i]() end
end

local FINISHED = {succeeded = true, failed = true, cancelled = true}

local function fmt(n) return string.format('%d', n) end

-- An integer's decimal text, kept for the rest of the call. Redis prints a Lua number handed
-- to redis.call with '%.17g', slow for a 16-digit time (about a tenth of a drain's Redis CPU
-- went there); the few times a run writes for every job (now, a lease's end, a retention's
-- end) are printed once instead. Strings pass through.
local texts = {}
resets[#resets + 1] = function() texts = {} end

local function text(n)
  if type(n) ~= 'number' then return n end
  local s = texts[n]
  if not s then
    s = fmt(n)
    texts[n] = s
  end
  return s
end

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The names of a queue's keys, built once per call: a run that handles many jobs names the
-- same few keys for each (its leases, indexes, retention sets), and a Lua concatenation
-- builds and hashes a new string every time. `key_names[q]` maps a suffix to its key,
-- `key_prefixes[q]` is the queue's prefix for keys named after a job.
local key_names, key_prefixes = {}, {}
resets[#resets + 1] = function() key_names, key_prefixes = {}, {} end

local function queue_prefix(q)
  local prefix = key_prefixes[q]
  if not prefix then
    prefix = P .. ':{' .. q .. '}:'
    key_prefixes[q] = prefix
    key_names[q] = {}
  end
  return prefix
end

local function queue_key(q, suffix)
  local prefix = queue_prefix(q)
  local names = key_names[q]
  local key = names[suffix]
  if not key then
    key = prefix .. suffix
    names[suffix] = key
  end
  return key
end

-- the last job key built, kept for the call: finish.lua and finish_job name the same hash
local last_q, last_id, last_job_key = nil
resets[#resets + 1] = function() last_q, last_id, last_job_key = nil end
local function job_key(q, id)
  if id ~= last_id or q ~= last_q or not last_job_key then
    last_q, last_id, last_job_key = q, id, queue_prefix(q) .. 'job:' .. id
  end
  return last_job_key
end

-- How many fields store.lua writes for every job: task, queue, payload, state, priority,
-- attempt, max_attempts, enqueued_at, run_at (never deleted); the others only when the job
-- has them. A claim adds 3 more (started_at, lease_until, worker; the cancel flag only to
-- a job claimed before, which has more fields anyway): a running job has them all. A hash
-- with no more fields than a count of these has none of the optional ones (dedup key, flow
-- control, batch, dependencies), which claim.lua and finish.lua then leave unread: a field
-- HMGET does not find costs a search of the whole hash, HLEN none.
local PLAIN_JOB_FIELDS = 9
local PLAIN_RUNNING_FIELDS = PLAIN_JOB_FIELDS + 3
local function dedup_key(q, key) return queue_key(q, 'key:' .. key) end
local function ready_key(q, prio) return queue_key(q, 'ready:' .. prio) end

-- a job waiting to run (queued, or scheduled for later) sits in its priority's sorted set
local function put_ready(id, q, prio, run_at)
  redis.call('ZADD', ready_key(q, prio), run_at, id)
  redis.call('ZADD', queue_key(q, 'prios'), tonumber(prio), prio)
end

local function take_ready(id, q, prio)
  local key = ready_key(q, prio)
  redis.call('ZREM', key, id)
  if redis.call('ZCARD', key) == 0 then
    redis.call('ZREM', queue_key(q, 'prios'), prio)
  end
end

-- wake up to `n` workers blocked on the queue; the list stays short
local WAKE_TOKENS = {'1', '1', '1', '1', '1', '1', '1', '1', '1', '1', '1', '1', '1', '1', '1', '1'}

local function wake(q, n)
  local key = queue_key(q, 'wake')
  -- a full list (its workers busy, or none) costs one read: no push, no trim
  local room = 16 - redis.call('LLEN', key)
  if room > 0 then
    redis.call('LPUSH', key, unpack(WAKE_TOKENS, 1, math.min(n, room)))
  end
end

-- the due time of the queue's earliest waiting job (queued or scheduled), or false
local function earliest_due(q)
  local earliest = false
  for _, prio in ipairs(redis.call('ZRANGE', queue_key(q, 'prios'), 0, -1)) do
    local head = redis.call('ZRANGE', ready_key(q, prio), 0, 0, 'WITHSCORES')
    if head[2] and (not earliest or tonumber(head[2]) < earliest) then
      earliest = tonumber(head[2])
    end
  end
  return earliest
end

-- An idle worker blocks until the earliest due time it read (next_due) or the end of its
-- poll. A job put to wait until a time before the queue's earliest must wake one, to read
-- it again: whether `run_at` is such a time. The earliest is read once per script run,
-- before the run's first waiting job is written; a write in between that made a job due
-- sooner has woken a worker already, which reads everything once the run ends.
local earliest_before_run = nil
resets[#resets + 1] = function() earliest_before_run = nil end

local function sooner_than_waiting(q, run_at)
  if earliest_before_run == nil then earliest_before_run = earliest_due(q) end
  return not earliest_before_run or run_at < earliest_before_run
end

-- callers of wait_finished list the jobs they wait for in the queue's `waiters` sorted set
-- (score: until when, on the Redis clock); most script runs find it empty, and look once
local someone_waits = nil
resets[#resets + 1] = function() someone_waits = nil end

local function notify_finished(id, q, now)
  local key = queue_key(q, 'waiters')
  if someone_waits == nil then someone_waits = redis.call('ZCARD', key) > 0 end
  if someone_waits then
    local until_us = redis.call('ZSCORE', key, id)
    if until_us then
      redis.call('ZREM', key, id)
      if tonumber(until_us) >= now then redis.call('PUBLISH', P .. ':finished', id) end
    end
  end
end

-- Sorted-set writes that many jobs of one script run make to the same keys (leases, indexes,
-- retention) are gathered and sent as one command per key by flush_later, at the script's
-- end: removals first, then additions. A script never adds and then removes the same member.
local later_adds, later_removals = {}, {}
resets[#resets + 1] = function() later_adds, later_removals = {}, {} end

local function later_list(sets, key)
  local members = sets[key]
  if not members then
    members = {}
    sets[key] = members
  end
  return members
end

local function later_zadd(key, score, id)
  local members = later_list(later_adds, key)
  members[#members + 1] = text(score)
  members[#members + 1] = id
end

local function later_zrem(key, id)
  local members = later_list(later_removals, key)
  members[#members + 1] = id
end

local function chunked(command, key, args, step)
  for i = 1, #args, step do
    redis.call(command, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

local function flush_later()
  for key, ids in pairs(later_removals) do chunked('ZREM', key, ids, 1000) end
  for key, pairs_ in pairs(later_adds) do chunked('ZADD', key, pairs_, 1000) end
  later_adds, later_removals = {}, {}
end

-- whether a finished job's retention (its expires_at field) has ended by `now`: from then
-- on every reader treats the job as gone, before reclaim deletes it
local function expired(expires_at, now)
  local t = tonumber(expires_at)
  return t ~= nil and t <= now
end

-- Dependencies (deps.lua has the rest): dependents:<id> is the hash of the jobs waiting on
-- job <id> (dependent id -> its queue); ddirty the sorted set of the queue's ended jobs whose
-- dependents are not judged yet, by when they ended.
local function dependents_key(q, id) return queue_prefix(q) .. 'dependents:' .. id end

local ended_with_dependents = {} -- the jobs this script run ended that others wait on
resets[#resets + 1] = function() ended_with_dependents = {} end

-- A job ended: if others wait on it, note its end in their hash ('@end') and mark it for
-- judging (ddirty); the caller judges them (dependencies.py), or upkeep after a crash. Only
-- the first end counts: one after a retry by hand, before that judging, changes nothing.
local function mark_dependents(id, q, state, now)
  local key = dependents_key(q, id)
  if redis.call('EXISTS', key) == 0 then return end
  if redis.call('HSETNX', key, '@end', state) == 1 then
    redis.call('ZADD', queue_key(q, 'ddirty'), now, id)
  end
  ended_with_dependents[#ended_with_dependents + 1] = id
end

-- move a job to a finished state; ttl_us < 0 keeps its record until purged. `key` is the
-- job's dedup key (or false); `field`, `value` one more field to store (result or error).
-- The hash keeps its lease_until, which readers ignore once the job is not running.
local INDEXES = {succeeded = 'ix:succeeded', failed = 'ix:failed', cancelled = 'ix:cancelled'}
local RETAINED = {succeeded = 'done:succeeded', failed = 'done:failed', cancelled = 'done:cancelled'}

local function finish_job(id, q, state, now, ttl_us, from, key, field, value)
  local jk = job_key(q, id)
  if from ~= 'running' then redis.call('ZREM', queue_key(q, 'ix:' .. from), id) end
  later_zadd(queue_key(q, INDEXES[state]), '0', id)
  local expires, done_at = '+inf', text(now)
  if ttl_us >= 0 then expires = text(now + ttl_us) end
  if field and ttl_us >= 0 then -- one call per case: no table to build and unpack
    redis.call('HSET', jk, 'state', state, 'finished_at', done_at, field, value, 'expires_at',
               expires)
  elseif field then redis.call('HSET', jk, 'state', state, 'finished_at', done_at, field, value)
  elseif ttl_us >= 0 then
    redis.call('HSET', jk, 'state', state, 'finished_at', done_at, 'expires_at', expires)
  else redis.call('HSET', jk, 'state', state, 'finished_at', done_at) end
  if ttl_us >= 0 then
    -- Redis expiry is the safety net: readers judge expires_at, reclaim deletes on time
    local seconds = text(math.ceil(ttl_us / 1000000) + 60)
    redis.call('EXPIRE', jk, seconds)
    if key then redis.call('EXPIRE', dedup_key(q, key), seconds) end
  end
  later_zadd(queue_key(q, RETAINED[state]), expires, id)
  notify_finished(id, q, now)
  mark_dependents(id, q, state, now)
end

-- the index group (ix:<group>) of a job in `state`: queued and scheduled jobs are listed
-- together as 'waiting' (for a claim); jobs in state waiting (on others) as 'blocked'
local function index_group(state)
  if state == 'queued' or state == 'scheduled' then return 'waiting' end
  if state == 'waiting' then return 'blocked' end
  return state
end

local function delete_job(id, q)
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'key', 'state')
  local key, state = job[1], job[2]
  if key and redis.call('GET', dedup_key(q, key)) == id then
    redis.call('DEL', dedup_key(q, key))
  end
  redis.call('ZREM', queue_key(q, 'ix:all'), id)
  if state then redis.call('ZREM', queue_key(q, 'ix:' .. index_group(state)), id) end
  redis.call('DEL', jk, queue_key(q, 'pending:' .. id), queue_key(q, 'early:' .. id))
  -- its dependents stay while its end is not judged yet: the judging needs only this hash
  if not redis.call('ZSCORE', queue_key(q, 'ddirty'), id) then
    redis.call('DEL', dependents_key(q, id))
  end
end

-- indexes for listing: per queue, job ids sorted lexicographically (UUIDv7: by creation),
-- one set for all jobs and one per group (index_group): waiting (queued or scheduled),
-- blocked (state waiting), running, succeeded, failed, cancelled
local INDEX_NAMES = {all = 'ix:all', waiting = 'ix:waiting', blocked = 'ix:blocked',
                     succeeded = INDEXES.succeeded, failed = INDEXES.failed,
                     cancelled = INDEXES.cancelled}

local function index_key(q, group) return queue_key(q, INDEX_NAMES[group] or 'ix:' .. group) end

-- running jobs are listed from the lease set, so 'running' has no index of its own
local function index_move(id, q, from, to)
  if from and from ~= 'running' then redis.call('ZREM', index_key(q, from), id) end
  if to and to ~= 'running' then redis.call('ZADD', index_key(q, to), 0, id) end
end

local function log_attempt(jk, attempt, worker, started_at, ended_at, outcome, err)
  local line = cjson.encode({attempt = attempt, worker = worker or false,
                             started_at = started_at or false, ended_at = ended_at,
                             outcome = outcome, error = err or false})
  local log = redis.call('HGET', jk, 'attempts')
  if log then line = log .. '\n' .. line end
  redis.call('HSET', jk, 'attempts', line)
end

-- A finished job's last attempt is not logged when it ends: the job's own fields say how
-- it ended, and readers add it. Before such a job runs again, log it for real.
local function log_final_attempt(id, q)
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'attempt', 'worker', 'started_at', 'finished_at', 'state',
                         'error', 'attempts')
  local attempt = tonumber(job[1]) or 0
  if attempt == 0 or not job[3] or not job[4] then return end
  local logged = job[7] and string.match(job[7], '"attempt":' .. attempt .. '[,}]')
  if not logged then
    local err = false
    if job[5] == 'failed' then err = job[6] end
    log_attempt(jk, attempt, job[2], job[3], job[4], job[5], err)
  end
end

-- activity gathered during one script run, written once at its end by flush_activity
local activity = {}
resets[#resets + 1] = function() activity = {} end

-- the end of the job's current attempt (its number, worker and start as stored): counted as
-- activity, and logged unless it ends the job (see log_final_attempt)
local function attempt_ended(id, q, now, outcome, err, attempt, worker, started_at)
  if not FINISHED[outcome] then
    log_attempt(job_key(q, id), tonumber(attempt) or 0, worker, started_at, fmt(now), outcome, err)
  end
  local runtime = 0
  if started_at then runtime = now - tonumber(started_at) end
  local queue = activity[q]
  if not queue then
    queue = {recent = {}, counts = {}}
    activity[q] = queue
  end
  queue.recent[#queue.recent + 1] = text(now) .. ':' .. fmt(runtime) .. ':' .. outcome
  queue.counts[outcome] = (queue.counts[outcome] or 0) + 1
end

-- counts per second sit in one hash per minute, kept until an hour-long window that starts
-- in that minute has passed (taskrunner.backend.inspection.SECONDS_KEPT)
local SECONDS_KEPT = 3660

local function flush_activity(now)
  local minute = fmt(math.floor(now / 60000000))
  local second = fmt(math.floor(now / 1000000))
  for q, queue in pairs(activity) do
    local recent = queue_key(q, 'recent')
    chunked('LPUSH', recent, queue.recent, 1000)
    redis.call('LTRIM', recent, 0, 999)
    local seconds = queue_key(q, 'seconds:' .. minute)
    for outcome, count in pairs(queue.counts) do
      redis.call('HINCRBY', queue_key(q, 'minutes'), minute .. ':' .. outcome, count)
      redis.call('HINCRBY', seconds, second .. ':' .. outcome, count)
    end
    redis.call('EXPIRE', seconds, SECONDS_KEPT)
  end
  activity = {}
end

-- the end of every script that finishes jobs or ends attempts
local function flush(now)
  flush_later()
  flush_activity(now)
end

-- up to `limit` of the queue's due jobs as {priority, due, id, priority level}, best first:
-- lowest priority number, then earliest due, then lowest id. Levels are read in priority
-- order and each comes sorted by due time, then id (ZRANGEBYSCORE's order), so the list is
-- in order as gathered. With `without_due`, due is false: the order needs no score, and
-- Redis prints each score it answers with '%.17g' (a claim reads one only for a job it
-- sets aside, with ZSCORE).
local function due_candidates(q, now, limit, without_due)
  local candidates = {}
  local step = without_due and 1 or 2
  for _, prio in ipairs(redis.call('ZRANGE', queue_key(q, 'prios'), 0, -1)) do
    local got
    if without_due then
      got = redis.call('ZRANGEBYSCORE', ready_key(q, prio), '-inf', now, 'LIMIT', 0,
                       limit - #candidates)
    else
      got = redis.call('ZRANGEBYSCORE', ready_key(q, prio), '-inf', now, 'WITHSCORES',
                       'LIMIT', 0, limit - #candidates)
    end
    local level = tonumber(prio)
    for j = 1, #got, step do
      candidates[#candidates + 1] = {level, not without_due and tonumber(got[j + 1]), got[j],
                                     prio}
    end
    if #candidates >= limit then break end
  end
  return candidates
end
