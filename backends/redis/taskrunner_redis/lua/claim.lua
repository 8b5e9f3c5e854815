-- ARGV: prefix, queue, worker, lease_us, limit. Takes up to `limit` due jobs of the queue,
-- lowest priority number first, then earliest due, then lowest id. Returns the clock, then
-- per job: id, task, queue, payload, priority, attempt, max_attempts, enqueued_at, run_at,
-- key.
local q = ARGV[2]
local now = now_us()
local worker, lease, limit = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local candidates = due_candidates(q, now, limit)
local claimed = {fmt(now)}
for i = 1, math.min(limit, #candidates) do
  local id = candidates[i][3]
  take_ready(id, q, candidates[i][4])
  local jk = job_key(q, id)
  if redis.call('EXISTS', jk) == 1 then -- else deleted by hand: nothing to run
    local job = redis.call('HMGET', jk, 'task', 'payload', 'max_attempts', 'enqueued_at',
                           'priority', 'run_at', 'key')
    local counted = redis.pcall('HINCRBY', jk, 'attempt', 1)
    if not job[1] or not job[2] or not tonumber(job[3]) or not tonumber(job[4])
        or type(counted) ~= 'number' then
      -- written by something other than taskrunner: fail it rather than loop on it
      redis.call('HSET', jk, 'error', cjson.encode({type = 'CorruptJob', message =
        'the job hash lacks task, payload, max_attempts or enqueued_at, or its attempt is ' ..
        'not a number: it was not written by taskrunner'}))
      if type(counted) ~= 'number' then redis.call('HSET', jk, 'attempt', 1) end
      finish_job(id, q, 'failed', now, -1, 'waiting')
    else
      redis.call('HSET', jk, 'state', 'running', 'started_at', now, 'lease_until', now + lease,
                 'worker', worker, 'cancel', 0)
      redis.call('ZADD', queue_key(q, 'leases'), now + lease, id)
      index_move(id, q, 'waiting', 'running')
      claimed[#claimed + 1] = {id, job[1], q, job[2], job[5], counted, job[3], job[4],
                               job[6], job[7]}
    end
  end
end
return claimed
