-- ARGV: prefix, a JSON list with one [id, task, queue, priority, max_attempts, key or false,
-- delay_us, at_us or false] per job, then each job's payload. Returns each job's id, or the
-- id of the job holding its dedup key. Storing an id that exists already changes nothing, so
-- a retry is safe.
local now = now_us()
local ids = {}
local due = {}
for i, job in ipairs(cjson.decode(ARGV[2])) do
  local id, task, q, prio, max_attempts, key = job[1], job[2], job[3], job[4], job[5], job[6]
  local payload = ARGV[2 + i]
  local holder = false
  if redis.call('EXISTS', job_key(id)) == 1 then
    holder = id -- a replay of this enqueue (the client retried after losing the reply)
  elseif key then
    holder = redis.call('GET', dedup_key(key))
    if not holder then redis.call('SET', dedup_key(key), id) end
  end
  if holder then
    ids[#ids + 1] = holder
  else
    local run_at = now + job[7]
    if job[8] then run_at = job[8] end
    local state = 'queued'
    if run_at > now then state = 'scheduled' end
    local jk = job_key(id)
    redis.call('HSET', jk, 'task', task, 'queue', q, 'payload', payload, 'state', state,
               'priority', prio, 'attempt', 0, 'max_attempts', max_attempts,
               'enqueued_at', now, 'run_at', run_at)
    if key then redis.call('HSET', jk, 'key', key) end
    put_ready(id, q, prio, run_at)
    redis.call('ZADD', index_key(q, 'all'), 0, id)
    index_move(id, q, false, 'waiting')
    if state == 'queued' then due[q] = (due[q] or 0) + 1 end
    if not due[q] then due[q] = 0 end
    ids[#ids + 1] = id
  end
end
for q, count in pairs(due) do
  redis.call('SADD', P .. ':queues', q)
  if count > 0 then wake(q, count) end
end
return ids
