-- ARGV: prefix, queue, batch. Puts back the queue's jobs whose lease expired and deletes its
-- finished jobs whose retention ended, at most `batch` of each kind. Returns the ids put back.
local q = ARGV[2]
local now = now_us()
local batch = tonumber(ARGV[3])
local requeued = {}
redis.call('ZREMRANGEBYSCORE', queue_key(q, 'waiters'), '-inf', now) -- waits that ended
local leases = queue_key(q, 'leases')
for _, id in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, batch)) do
  redis.call('ZREM', leases, id)
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'state', 'priority', 'run_at', 'attempt', 'worker',
                         'started_at')
  if job[1] == 'running' then
    attempt_ended(id, q, now, 'lost', false, job[4], job[5], job[6])
    redis.call('HDEL', jk, 'lease_until', 'worker')
    redis.call('HSET', jk, 'state', 'queued')
    put_ready(id, q, job[2], tonumber(job[3]))
    index_move(id, q, 'running', 'waiting')
    wake(q, 1)
    requeued[#requeued + 1] = id
  end
end
local minutes = queue_key(q, 'minutes')
local oldest = math.floor(now / 60000000) - 60
for _, field in ipairs(redis.call('HKEYS', minutes)) do
  if tonumber(string.match(field, '^(%d+):')) < oldest then redis.call('HDEL', minutes, field) end
end
for state, _ in pairs(FINISHED) do
  local done = queue_key(q, 'done:' .. state)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', done, '-inf', now, 'LIMIT', 0, batch)) do
    delete_job(id, q)
    redis.call('ZREM', done, id)
  end
end
flush(now)
return requeued
