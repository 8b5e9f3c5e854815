-- ARGV: prefix, queue, a JSON list with one [id, task, priority, max_attempts, key or false,
-- delay_us, at_us or false, window_ms or false, flow, batch or false, once (optional)] per
-- job, then each job's payload. `flow`
-- is false, or [limit_key or false, limit_max, rate_key or false, rate_max, rate_per (text:
-- seconds)], kept on the job's hash for the claim (flow.lua). A `batch` makes the job a
-- member of that batch's part on the queue (batch.lua), which must be open: a closed part
-- refuses the whole run before any write, answering {-1, batch}. `once` names a key of the
-- queue that marks the job as stored once and for all (a batch's callback): while it exists
-- the job is not stored again, even after its own record is gone. A job with
-- a window_ms holds its key in P:{q}:window:<key> (the opener's id, expiring after the
-- window) instead of P:{q}:key:<key>, and does not keep it on its hash. Returns 1 if the queue is
-- marked as listed in P:queues (0: the client must list it), then each job's id, or the id of
-- the job holding its dedup key in the queue. Storing an id that exists already changes
-- nothing, so a retry is safe. A holder whose retention has ended (or whose hash is gone) is
-- deleted here, and the new job takes the key.
local q = ARGV[2]
local now = now_us()
local ids = {redis.call('EXISTS', queue_key(q, 'listed'))}
local wakes = 0 -- idle workers to wake: one per job due now or sooner than the others
local levels = {} -- priority levels added to the queue's prios in this run

local function add_fields(fields, ...)
  for _, value in ipairs({...}) do fields[#fields + 1] = value end
end

local function holds_key(holder)
  local job = redis.call('HMGET', job_key(q, holder), 'state', 'expires_at')
  if job[1] and not expired(job[2], now) then return true end
  if job[1] then redis.call('ZREM', queue_key(q, 'done:' .. job[1]), holder) end
  delete_job(holder, q)
  return false
end

local jobs = cjson.decode(ARGV[3])
for _, job in ipairs(jobs) do
  if job[10] and redis.call('HGET', part_key(q, 'bc', job[10]), 'open') == '0'
      and redis.call('EXISTS', job_key(q, job[1])) == 0 then
    return {-1, job[10]}
  end
end

-- a new member: listed in its part, counted as waiting (the part opens with its first one)
local joined = {}
local function join_batch(b, id, run_at)
  if not joined[b] then
    joined[b] = true
    redis.call('HSETNX', part_key(q, 'bc', b), 'open', 1)
  end
  later_zadd(part_key(q, 'bm', b), 0, id)
  later_zadd(part_key(q, 'bw', b), run_at, id)
  redis.call('HINCRBY', part_key(q, 'bc', b), 'v', 1)
end

for i, job in ipairs(jobs) do
  local id, task, prio, max_attempts, key = job[1], job[2], job[3], job[4], job[5]
  local payload = ARGV[3 + i]
  local jk = job_key(q, id)
  local holder = false
  if job[11] and redis.call('SET', queue_key(q, job[11]), id, 'NX') == false then
    holder = id -- stored once already (a batch's callback)
  elseif redis.call('EXISTS', jk) == 1 then
    holder = id -- a replay of this enqueue (the client retried after losing the reply)
  elseif key and job[8] then
    holder = redis.call('GET', queue_key(q, 'window:' .. key))
    if not holder then
      redis.call('SET', queue_key(q, 'window:' .. key), id, 'PX', job[8])
    end
    key = false -- a windowed key is not kept on the job
  elseif key then
    holder = redis.call('GET', dedup_key(q, key))
    if holder and not holds_key(holder) then holder = false end
    if not holder then redis.call('SET', dedup_key(q, key), id) end
  end
  if holder then
    ids[#ids + 1] = holder
  else
    local run_at = now + job[6]
    if job[7] then run_at = job[7] end
    local state = 'queued'
    if run_at > now then state = 'scheduled' end
    local fields = {'task', task, 'queue', q, 'payload', payload, 'state', state,
                    'priority', prio, 'attempt', 0, 'max_attempts', max_attempts,
                    'enqueued_at', now, 'run_at', run_at}
    if key then add_fields(fields, 'key', key) end
    if job[10] then add_fields(fields, 'batch', job[10]) end
    local flow = job[9]
    if flow and flow[1] then add_fields(fields, 'limit_key', flow[1], 'limit_max', flow[2]) end
    if flow and flow[3] then
      add_fields(fields, 'rate_key', flow[3], 'rate_max', flow[4], 'rate_per', flow[5])
    end
    redis.call('HSET', jk, unpack(fields))
    -- as put_ready and index_move do, gathered into one command per key (flush_later)
    later_zadd(ready_key(q, prio), run_at, id)
    if not levels[prio] then
      levels[prio] = true
      later_zadd(queue_key(q, 'prios'), tonumber(prio), prio)
    end
    later_zadd(index_key(q, 'all'), 0, id)
    later_zadd(index_key(q, 'waiting'), 0, id)
    if job[10] then join_batch(job[10], id, run_at) end
    if state == 'queued' or sooner_than_waiting(q, run_at) then wakes = wakes + 1 end
    ids[#ids + 1] = id
  end
end
flush_later()
if wakes > 0 then wake(q, wakes) end
return ids
