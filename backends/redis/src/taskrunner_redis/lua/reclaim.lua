-- ARGV: prefix, queue, batch, grace_us. Puts back the queue's jobs whose lease expired and
-- deletes its finished jobs whose retention ended, at most `batch` of each kind. Returns the
-- ids put back, then (as one list, if any) {the batches marked dirty on the queue more than
-- grace_us ago, the ended jobs whose dependents are unjudged as long}: their settle or judging
-- did not happen (a crash), upkeep's turn (batches.py, dependencies.py).
-- A job put back frees its limit slot. A lease of a job that is not running (its hash was
-- deleted or changed by hand) may have left a slot taken: the limit keys with held jobs are
-- checked then.
local q = ARGV[2]
local now = now_us()
local batch = tonumber(ARGV[3])
local requeued = {}
local lost_lease = false
redis.call('ZREMRANGEBYSCORE', queue_key(q, 'waiters'), '-inf', now) -- waits that ended
local leases = queue_key(q, 'leases')
for _, id in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, batch)) do
  redis.call('ZREM', leases, id)
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'state', 'priority', 'run_at', 'attempt', 'worker',
                         'started_at', 'limit_key', 'batch')
  if job[1] ~= 'running' then
    lost_lease = true
  else
    attempt_ended(id, q, now, 'lost', false, job[4], job[5], job[6])
    redis.call('HDEL', jk, 'lease_until', 'worker')
    redis.call('HSET', jk, 'state', 'queued')
    put_ready(id, q, job[2], tonumber(job[3]))
    index_move(id, q, 'running', 'waiting')
    batch_moved(job[8], q, id, 'running', 'waiting', now, tonumber(job[3]))
    wake(q, 1)
    if job[7] then free_slot(id, q, job[7]) end
    requeued[#requeued + 1] = id
  end
end
if lost_lease then prune_limit_keys(q) end
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
local marked_before = now - tonumber(ARGV[4])
local function stale(key)
  return redis.call('ZRANGEBYSCORE', queue_key(q, key), '-inf', marked_before, 'LIMIT', 0, batch)
end
local batches, ends = stale('bdirty'), stale('ddirty')
if #batches > 0 or #ends > 0 then requeued[#requeued + 1] = {batches, ends} end
return requeued
