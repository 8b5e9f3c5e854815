-- ARGV: prefix, worker, lease_us, limit, queue... Takes up to `limit` due jobs across the
-- queues, lowest priority number first, then earliest due, then lowest id. Returns the
-- clock, then per job: id, task, queue, payload, priority, attempt, max_attempts,
-- enqueued_at, run_at, key.
local now = now_us()
local worker, lease, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local candidates = {}
for i = 5, #ARGV do
  local q = ARGV[i]
  for _, prio in ipairs(redis.call('ZRANGE', queue_key(q, 'prios'), 0, -1)) do
    local got = redis.call('ZRANGEBYSCORE', ready_key(q, prio), '-inf', now, 'WITHSCORES',
                           'LIMIT', 0, limit)
    for j = 1, #got, 2 do
      candidates[#candidates + 1] = {tonumber(prio), tonumber(got[j + 1]), got[j], q, prio}
    end
    -- levels come in priority order: a full level leaves nothing for the ones after it
    if #got >= 2 * limit then break end
  end
end
table.sort(candidates, function(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end)
local claimed = {string.format('%d', now)}
for i = 1, math.min(limit, #candidates) do
  local c = candidates[i]
  local id, q = c[3], c[4]
  take_ready(id, q, c[5])
  local jk = job_key(id)
  if redis.call('EXISTS', jk) == 1 then -- else deleted by hand: nothing to run
    local job = redis.call('HMGET', jk, 'task', 'payload', 'max_attempts', 'enqueued_at',
                           'queue', 'priority', 'run_at', 'key')
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
      claimed[#claimed + 1] = {id, job[1], job[5], job[2], job[6], counted, job[3], job[4],
                               job[7], job[8]}
    end
  end
end
return claimed
