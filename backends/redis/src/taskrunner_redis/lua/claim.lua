-- ARGV: prefix, queue, worker, lease_us, limit. Takes up to `limit` due jobs of the queue,
-- lowest priority number first, then earliest due, then lowest id. Returns the clock, then
-- per job: id, task, queue, payload, priority, attempt, max_attempts, enqueued_at, run_at,
-- key. A paused queue (its key `paused` exists) gives none.
local q = ARGV[2]
local now = now_us()
if redis.call('EXISTS', queue_key(q, 'paused')) == 1 then return {fmt(now)} end -- paused
local worker, lease, limit = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local candidates = due_candidates(q, now, limit)
local claimed = {fmt(now)}
local taken = {} -- priority level -> ids taken from its ready set
for i = 1, math.min(limit, #candidates) do
  local id, prio = candidates[i][3], candidates[i][4]
  local ids = taken[prio]
  if not ids then
    ids = {}
    taken[prio] = ids
  end
  ids[#ids + 1] = id
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'task', 'payload', 'max_attempts', 'enqueued_at',
                         'priority', 'run_at', 'key', 'state', 'attempt')
  local stored = job[1] or job[2] or job[3] or job[4] or job[8] or job[9]
    or redis.call('EXISTS', jk) == 1
  if stored then -- else deleted by hand: nothing to run
    local counted = false
    if not job[9] then counted = 1
    elseif string.match(job[9], '^%d+$') then counted = tonumber(job[9]) + 1 end
    if not job[1] or not job[2] or not tonumber(job[3]) or not tonumber(job[4])
        or not counted then
      -- written by something other than taskrunner: fail it rather than loop on it
      redis.call('HSET', jk, 'attempt', counted or 1)
      finish_job(id, q, 'failed', now, -1, 'waiting', false, 'error', cjson.encode({
        type = 'CorruptJob', message = 'the job hash lacks task, payload, max_attempts or ' ..
        'enqueued_at, or its attempt is not a number: it was not written by taskrunner'}))
    else
      redis.call('HSET', jk, 'state', 'running', 'attempt', counted, 'started_at', now,
                 'lease_until', now + lease, 'worker', worker, 'cancel', 0)
      later_zadd(queue_key(q, 'leases'), now + lease, id)
      later_zrem(index_key(q, 'waiting'), id)
      claimed[#claimed + 1] = {id, job[1], q, job[2], job[5], counted, job[3], job[4],
                               job[6], job[7]}
    end
  end
end
for prio, ids in pairs(taken) do
  local key = ready_key(q, prio)
  chunked('ZREM', key, ids, 1000)
  if redis.call('ZCARD', key) == 0 then redis.call('ZREM', queue_key(q, 'prios'), prio) end
end
flush(now)
return claimed
