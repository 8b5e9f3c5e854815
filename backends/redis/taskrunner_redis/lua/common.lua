-- Shared by every script (prepended when the scripts are loaded). ARGV[1] is the key prefix.
-- Every script but the worker registry's works on one queue, named by ARGV[2], and touches
-- only keys under that queue's hash tag {queue} (one Redis Cluster slot); KEYS[1] is one of
-- them, so a cluster client routes the call to the node holding the queue.
-- Times are integer microseconds since the epoch on the Redis clock. Numbers are passed to
-- redis.call as Lua numbers (converted exactly); never concatenate a time into a string.
local P = ARGV[1]
local FINISHED = {succeeded = true, failed = true, cancelled = true}

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function queue_key(q, suffix) return P .. ':{' .. q .. '}:' .. suffix end
local function job_key(q, id) return queue_key(q, 'job:' .. id) end
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
local function wake(q, n)
  local key = queue_key(q, 'wake')
  for _ = 1, math.min(n, 16) do
    redis.call('LPUSH', key, '1')
  end
  redis.call('LTRIM', key, 0, 15)
end

local function notify_finished(id, q)
  if redis.call('EXISTS', queue_key(q, 'waiting:' .. id)) == 1 then
    redis.call('PUBLISH', P .. ':finished', id)
  end
end

-- move a job to a finished state; ttl_us < 0 keeps its record until purged
local function finish_job(id, q, state, now, ttl_us, from)
  local jk = job_key(q, id)
  if from ~= 'running' then redis.call('ZREM', queue_key(q, 'ix:' .. from), id) end
  redis.call('ZADD', queue_key(q, 'ix:' .. state), 0, id)
  redis.call('HSET', jk, 'state', state, 'finished_at', now)
  redis.call('HDEL', jk, 'lease_until')
  local expires = '+inf'
  if ttl_us >= 0 then
    expires = now + ttl_us
    -- Redis expiry is the safety net; reclaim prunes on time so counts stay exact
    local seconds = math.ceil(ttl_us / 1000000) + 60
    redis.call('EXPIRE', jk, seconds)
    local key = redis.call('HGET', jk, 'key')
    if key then redis.call('EXPIRE', dedup_key(q, key), seconds) end
  end
  redis.call('ZADD', queue_key(q, 'done:' .. state), expires, id)
  notify_finished(id, q)
end

local function delete_job(id, q)
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'key', 'state')
  local key, state = job[1], job[2]
  if key and redis.call('GET', dedup_key(q, key)) == id then
    redis.call('DEL', dedup_key(q, key))
  end
  local group = state
  if state == 'queued' or state == 'scheduled' then group = 'waiting' end
  redis.call('ZREM', queue_key(q, 'ix:all'), id)
  if group then redis.call('ZREM', queue_key(q, 'ix:' .. group), id) end
  redis.call('DEL', jk)
end

-- indexes for listing: per queue, job ids sorted lexicographically (UUIDv7: by creation),
-- one set for all jobs and one per group: waiting, running, succeeded, failed, cancelled
local function index_key(q, group) return queue_key(q, 'ix:' .. group) end

-- running jobs are listed from the lease set, so 'running' has no index of its own
local function index_move(id, q, from, to)
  if from and from ~= 'running' then redis.call('ZREM', index_key(q, from), id) end
  if to and to ~= 'running' then redis.call('ZADD', index_key(q, to), 0, id) end
end

local function fmt(n) return string.format('%d', n) end

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

-- the end of the job's current attempt: counted as activity, and logged unless it ends
-- the job (see log_final_attempt)
local function attempt_ended(id, q, now, outcome, err)
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'attempt', 'worker', 'started_at')
  if not FINISHED[outcome] then
    log_attempt(jk, tonumber(job[1]) or 0, job[2], job[3], fmt(now), outcome, err)
  end
  local runtime = 0
  if job[3] then runtime = now - tonumber(job[3]) end
  local queue = activity[q]
  if not queue then
    queue = {recent = {}, counts = {}}
    activity[q] = queue
  end
  queue.recent[#queue.recent + 1] = fmt(now) .. ':' .. fmt(runtime) .. ':' .. outcome
  local field = fmt(math.floor(now / 60000000)) .. ':' .. outcome
  queue.counts[field] = (queue.counts[field] or 0) + 1
end

local function flush_activity()
  for q, queue in pairs(activity) do
    local recent = queue_key(q, 'recent')
    redis.call('LPUSH', recent, unpack(queue.recent))
    redis.call('LTRIM', recent, 0, 999)
    for field, count in pairs(queue.counts) do
      redis.call('HINCRBY', queue_key(q, 'minutes'), field, count)
    end
  end
  activity = {}
end

-- up to `limit` of the queue's due jobs as {priority, due, id, priority level}, best first:
-- lowest priority number, then earliest due, then lowest id
local function due_candidates(q, now, limit)
  local candidates = {}
  for _, prio in ipairs(redis.call('ZRANGE', queue_key(q, 'prios'), 0, -1)) do
    local got = redis.call('ZRANGEBYSCORE', ready_key(q, prio), '-inf', now, 'WITHSCORES',
                           'LIMIT', 0, limit)
    for j = 1, #got, 2 do
      candidates[#candidates + 1] = {tonumber(prio), tonumber(got[j + 1]), got[j], prio}
    end
    -- levels come in priority order: a full level leaves nothing for the ones after it
    if #got >= 2 * limit then break end
  end
  table.sort(candidates, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[3] < b[3]
  end)
  return candidates
end
