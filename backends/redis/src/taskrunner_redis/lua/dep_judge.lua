-- ARGV: prefix, queue, dependency id, the state it ended in, dependent... Judges each job of
-- the queue waiting on that dependency (deps.lua): one not stored yet notes the end in its
-- early hash, for its enqueue; one no longer waiting on it is left alone; one whose
-- dependency is met forgets it, and once it waits on nothing is queued (or scheduled by its
-- own due time); one whose dependency failed or was cancelled is cancelled, with the error
-- naming it, kept its after_ttl. Safe to repeat. Returns with_dirty({}) (batch.lua): the jobs
-- cancelled here that others wait on in turn.
local q, dep, state = ARGV[2], ARGV[3], ARGV[4]
local now = now_us()
local wakes = 0

local function release(id, jk, prio, run_at)
  local new_state = 'queued'
  if run_at > now then new_state = 'scheduled' end
  if new_state == 'queued' or sooner_than_waiting(q, run_at) then wakes = wakes + 1 end
  redis.call('HSET', jk, 'state', new_state)
  put_ready(id, q, prio, run_at)
  index_move(id, q, 'blocked', 'waiting')
end

for i = 5, #ARGV do
  local id = ARGV[i]
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'state', 'after_anyway', 'after_ttl', 'priority', 'run_at',
                         'key')
  local pending = pending_key(q, id)
  if not job[1] then
    redis.call('HSET', early_key(q, id), dep, state)
    redis.call('EXPIRE', early_key(q, id), EARLY_TTL)
  elseif job[1] == 'waiting' and redis.call('SISMEMBER', pending, dep) == 1 then
    local verdict = dependency_verdict(state, job[2] == '1')
    if verdict == 'met' then
      redis.call('SREM', pending, dep)
      if redis.call('SCARD', pending) == 0 then release(id, jk, job[4], tonumber(job[5])) end
    elseif verdict == 'broken' then
      redis.call('DEL', pending)
      finish_job(id, q, 'cancelled', now, tonumber(job[3]) or -1, 'blocked', job[6], 'error',
                 dependency_error(dep, state))
    end
  end
end
flush(now)
if wakes > 0 then wake(q, wakes) end
return with_dirty({})
