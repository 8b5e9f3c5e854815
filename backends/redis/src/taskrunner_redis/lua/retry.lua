-- ARGV: prefix, queue, id... Failed or cancelled jobs: due now with one more attempt
-- allowed (unless their retention has ended). Scheduled jobs not yet due: due now. Returns 1
-- or 0 per id.
local q = ARGV[2]
local now = now_us()
local done = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'state', 'priority', 'attempt', 'max_attempts', 'run_at',
                         'key', 'expires_at', 'batch')
  local state, prio = job[1], job[2]
  local ok = 0
  if (state == 'failed' or state == 'cancelled') and not expired(job[7], now) then
    log_final_attempt(id, q)
    redis.call('ZREM', queue_key(q, 'done:' .. state), id)
    redis.call('PERSIST', jk)
    if job[6] then redis.call('PERSIST', dedup_key(q, job[6])) end
    redis.call('HDEL', jk, 'finished_at', 'expires_at')
    redis.call('HSET', jk, 'state', 'queued', 'run_at', now, 'cancel', 0, 'max_attempts',
               math.max(tonumber(job[4]), tonumber(job[3]) + 1))
    put_ready(id, q, prio, now)
    index_move(id, q, state, 'waiting')
    batch_moved(job[8], q, id, state, 'waiting', now, now)
    wake(q, 1)
    ok = 1
  elseif (state == 'scheduled' or state == 'queued') and tonumber(job[5]) > now then
    take_ready(id, q, prio)
    redis.call('HSET', jk, 'state', 'queued', 'run_at', now)
    put_ready(id, q, prio, now)
    batch_moved(job[8], q, id, 'waiting', 'waiting', now, now)
    wake(q, 1)
    ok = 1
  end
  done[#done + 1] = ok
end
return done
