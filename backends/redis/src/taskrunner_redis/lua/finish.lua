-- ARGV: prefix, queue, a JSON list with one [id, attempt, kind, delay_us, ttl_us (negative:
-- keep), data length] per outcome, then every outcome's data (result or error, '' for none)
-- in one string, in order, each as long as its header says (one argument, not one per
-- outcome: less for the client to pack and for Redis to parse). Applies each outcome only
-- if its attempt still owns the job. Returns 1 (applied) or 0 (refused) per outcome, then
-- the batches to settle and the ended jobs others wait on, if any (with_dirty, batch.lua).
-- Every applied outcome ends the attempt, so it frees the job's limit slot, if any
-- (flow.lua).
local q = ARGV[2]
local now = now_us()
local applied = {}
local all_data, at = ARGV[4], 1
for _, outcome in ipairs(cjson.decode(ARGV[3])) do
  local id, attempt, kind = outcome[1], outcome[2], outcome[3]
  local data = ''
  if outcome[6] > 0 then
    data = string.sub(all_data, at, at + outcome[6] - 1)
    at = at + outcome[6]
  end
  local delay, ttl = outcome[4], outcome[5]
  local jk = job_key(q, id)
  local job
  if redis.call('HLEN', jk) <= PLAIN_RUNNING_FIELDS then -- running: no key, limit, batch
    job = redis.call('HMGET', jk, 'state', 'attempt', 'worker', 'started_at')
    job[5], job[6], job[7] = false, false, false
  else
    job = redis.call('HMGET', jk, 'state', 'attempt', 'worker', 'started_at', 'key',
                     'limit_key', 'batch')
  end
  if job[1] ~= 'running' or tonumber(job[2]) ~= attempt then
    applied[#applied + 1] = 0
  else
    later_zrem(queue_key(q, 'leases'), id)
    local err = false
    if kind == 'failed' or kind == 'retry' or (kind == 'released' and data ~= '') then
      err = data
    end
    attempt_ended(id, q, now, kind, err, job[2], job[3], job[4])
    if kind == 'succeeded' then
      finish_job(id, q, 'succeeded', now, ttl, 'running', job[5], 'result', data)
    elseif kind == 'failed' then
      finish_job(id, q, 'failed', now, ttl, 'running', job[5], 'error', data)
    elseif kind == 'cancelled' and data ~= '' then
      finish_job(id, q, 'cancelled', now, ttl, 'running', job[5], 'error', data)
    elseif kind == 'cancelled' then
      finish_job(id, q, 'cancelled', now, ttl, 'running', job[5])
    else -- back to wait: read what only that needs
      local place = redis.call('HMGET', jk, 'priority', 'run_at')
      local prio, run_at = place[1], tonumber(place[2])
      redis.call('HDEL', jk, 'lease_until', 'worker')
      if kind == 'retry' then
        run_at = now + delay
        redis.call('HSET', jk, 'error', data, 'run_at', run_at)
      else -- released: the attempt does not count; back after its delay, if any
        redis.call('HINCRBY', jk, 'max_attempts', 1)
        if delay > 0 then
          run_at = now + delay
          redis.call('HSET', jk, 'run_at', run_at)
        end
      end
      local state = 'queued'
      if run_at > now then state = 'scheduled' end
      if state == 'queued' or sooner_than_waiting(q, run_at) then wake(q, 1) end
      redis.call('HSET', jk, 'state', state)
      put_ready(id, q, prio, run_at)
      index_move(id, q, 'running', 'waiting')
      batch_moved(job[7], q, id, 'running', 'waiting', now, run_at)
    end
    if FINISHED[kind] then batch_moved(job[7], q, id, 'running', kind, now) end
    if job[6] then free_slot(id, q, job[6]) end
    applied[#applied + 1] = 1
  end
end
flush(now)
return with_dirty(applied)
