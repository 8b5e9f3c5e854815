-- ARGV: prefix, queue, worker, lease_us, limit[, deadline_us]. Takes up to `limit` due jobs of the queue,
-- lowest priority number first, then earliest due, then lowest id. Returns the clock, then
-- per job: id, task, queue, payload, priority, attempt, max_attempts, enqueued_at, run_at,
-- key, limit_key, limit_max, rate_key, rate_max, rate_per, batch. A paused queue (its key
-- `paused` exists) gives none.
-- Flow control (flow.lua): rate windows that opened release their held jobs first; a due job
-- whose limit key has no free slot, or whose rate window is closed, is set aside in its key's
-- held set, and the claim goes on with the next one.
-- With a deadline (a claim queued behind an idle worker's pop, see wake_claims.py), a claim
-- run after it takes nothing, as its worker may be gone, and hands a due job's wake on.
local q = ARGV[2]
local now = now_us()
if redis.call('EXISTS', queue_key(q, 'paused')) == 1 then return {fmt(now)} end -- paused
local deadline = tonumber(ARGV[6])
if deadline and now > deadline then
  local earliest = earliest_due(q)
  if earliest and earliest <= now then wake(q, 1) end
  return {fmt(now)}
end
local worker, lease, limit = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
-- due jobs one run looks at, at the most, beyond `limit`: bounds the time a run takes when a
-- large backlog of one key is set aside (about 0.2 s for 10,000; the next claims go on)
local EXAMINED_BEYOND_LIMIT = 10000
open_windows(q, now)
local claimed = {fmt(now)}
local taken = {} -- id -> true for the jobs claimed in this run (leases are written at its end)
local leased = {} -- the same jobs in the order claimed
local pruned = {} -- limit key -> true once this run checked its running set (prune_running)
local lost = false -- a due job's hash was deleted by hand

-- false if flow control lets the job start now, else why not: 'limit' or 'rate'
local function blocked(job)
  local limit_key, rate_key = job[8], job[10]
  if limit_key then
    local max = flow_max(job[9])
    local running = redis.call('SCARD', running_key(q, limit_key))
    if running >= max and not pruned[limit_key] then -- once per key and run: it may be full
      pruned[limit_key] = true
      running = prune_running(q, limit_key, taken)
      if running < max then release_limit(q, limit_key) end -- slots were lost, not held
    end
    if running >= max then return 'limit' end
  end
  if rate_key and starts_in_window(q, rate_key, now, window_us(job[12])) >= flow_max(job[11]) then
    return 'rate'
  end
  return false
end

-- set a job aside for its limit or rate key; a rate key notes when its window opens again
local function set_aside(kind, id, prio, due, job)
  if kind == 'limit' then
    hold('limit', id, q, job[8], prio, due, flow_max(job[9]))
    return
  end
  local key, max, per_us = job[10], flow_max(job[11]), window_us(job[12])
  hold('rate', id, q, key, prio, due, max, per_us)
  local count = starts_in_window(q, key, now, per_us)
  redis.call('ZADD', queue_key(q, 'opens'), 'LT', next_opening(q, key, now, max, per_us, count),
             key)
end

local function start(id, jk, job, attempt, prio)
  if job[16] then -- a plain job (read_job): never claimed, so never asked to stop either
    redis.call('HSET', jk, 'state', 'running', 'attempt', text(attempt), 'started_at',
               text(now), 'lease_until', text(now + lease), 'worker', worker)
  else -- a cancel request of an attempt before (put back since) no longer holds
    redis.call('HSET', jk, 'state', 'running', 'attempt', text(attempt), 'started_at',
               text(now), 'lease_until', text(now + lease), 'worker', worker, 'cancel', '0')
  end
  if job[8] then redis.call('SADD', running_key(q, job[8]), id) end
  if job[10] then
    record_start(q, job[10], id, attempt, now, flow_max(job[11]), window_us(job[12]))
  end
  taken[id] = true
  leased[#leased + 1] = id
  batch_moved(job[13], q, id, 'waiting', 'running', now)
  later_zrem(index_key(q, 'waiting'), id)
  claimed[#claimed + 1] = {id, job[1], q, job[2], prio, attempt, job[3], job[4], job[5],
                           job[6], job[8], job[9], job[10], job[11], job[12], job[13],
                           job[14], job[15]}
end

-- A hash with no more fields than PLAIN_JOB_FIELDS (common.lua) is a job never claimed
-- before, with no dedup key, flow control, batch or dependencies: the claim reads 6 fields
-- of it, not 15.
-- the fields of a job `consider` reads, in this order (false where the job has none)
local function read_job(jk)
  if redis.call('HLEN', jk) <= PLAIN_JOB_FIELDS then
    local f = redis.call('HMGET', jk, 'task', 'payload', 'max_attempts', 'enqueued_at',
                         'run_at', 'attempt')
    return {f[1], f[2], f[3], f[4], f[5], false, f[6], false, false, false, false, false,
            false, false, false, true}
  end
  return redis.call('HMGET', jk, 'task', 'payload', 'max_attempts', 'enqueued_at', 'run_at',
                    'key', 'attempt', 'limit_key', 'limit_max', 'rate_key', 'rate_max',
                    'rate_per', 'batch', 'after', 'after_anyway')
end

-- claim, set aside or fail one due candidate {priority, due, id, priority level}
local function consider(candidate)
  local id, prio = candidate[3], candidate[4]
  local jk = job_key(q, id)
  -- not its priority (its ready set's level says it) nor its state (only ready jobs are
  -- candidates): every field read costs a search of the hash
  local job = read_job(jk)
  local stored = job[1] or job[2] or job[3] or job[4] or job[7]
    or redis.call('EXISTS', jk) == 1
  if not stored then -- deleted by hand: nothing to run, but it may have been ahead of jobs
    lost = true       -- an enqueue set aside behind it (flow.lua: parks)
    return
  end
  local counted = false
  if not job[7] then counted = 1
  elseif string.match(job[7], '^%d+$') then counted = tonumber(job[7]) + 1 end
  if not job[1] or not job[2] or not tonumber(job[3]) or not tonumber(job[4])
      or not counted then
    -- written by something other than taskrunner: fail it rather than loop on it
    redis.call('HSET', jk, 'attempt', counted or 1)
    finish_job(id, q, 'failed', now, -1, 'waiting', false, 'error', cjson.encode({
      type = 'CorruptJob', message = 'the job hash lacks task, payload, max_attempts or ' ..
      'enqueued_at, or its attempt is not a number: it was not written by taskrunner'}))
    batch_moved(job[13], q, id, 'waiting', 'failed', now) -- settled by upkeep (bdirty)
    return
  end
  local why = (job[8] or job[10]) and blocked(job)
  if why then
    -- its due time: its score in its ready set, which it leaves only once the round ends
    local due = tonumber(redis.call('ZSCORE', ready_key(q, prio), id))
    set_aside(why, id, prio, due, job)
  else
    start(id, jk, job, counted, prio)
  end
end

-- rounds: each reads the best due jobs and considers them in order until `limit` are taken;
-- those it considered leave the ready sets. A round that set jobs aside reads more the next
-- time (a backlog of one key is read in growing pages, not one job at a time).
local examined, held = 0, 0
local budget = limit + EXAMINED_BEYOND_LIMIT
while #claimed - 1 < limit and examined < budget do
  local page = math.min(limit - (#claimed - 1) + held, 1000, budget - examined)
  local candidates = due_candidates(q, now, page, true)
  if #candidates == 0 then break end
  local leaving = {} -- priority level -> ids leaving its ready set
  for _, candidate in ipairs(candidates) do
    if #claimed - 1 >= limit then break end
    local before = #claimed
    consider(candidate)
    if #claimed == before then held = held + 1 end
    examined = examined + 1
    local ids = leaving[candidate[4]] or {}
    leaving[candidate[4]] = ids
    ids[#ids + 1] = candidate[3]
  end
  for prio, ids in pairs(leaving) do
    local key = ready_key(q, prio)
    chunked('ZREM', key, ids, 1000)
    if redis.call('ZCARD', key) == 0 then redis.call('ZREM', queue_key(q, 'prios'), prio) end
  end
end
-- The run's leases all end at now + lease. A leases set of up to 128 jobs is a listpack,
-- where ZADD walks from the head past every member that sorts before the new one (equal
-- scores: by id). Jobs are claimed in ascending id order, mostly: added in that order each
-- was compared with every lease of the run added before it; added last claimed first, each
-- lands ahead of them after one comparison. The set written is the same.
local lease_end = now + lease
for i = #leased, 1, -1 do later_zadd(queue_key(q, 'leases'), lease_end, leased[i]) end
flush(now)
if lost then -- held jobs a lost job was ahead of may run now
  forget_backlogs(q)
  prune_limit_keys(q)
end
return claimed
