-- ARGV: prefix, queue, ttl_us (negative: keep), id... Returns each job's state afterwards
-- ('' for unknown ids and for finished jobs whose retention has ended), then the batches to
-- settle and the ended jobs others wait on, if any (with_dirty, batch.lua). Cancelling a
-- queued job with a limit key releases what the key's free slots admit: it may have been
-- handed a freed slot, or been held (over-releasing is harmless, a slot left free is a
-- stall). A job waiting on others is cancelled too.
local q = ARGV[2]
local now = now_us()
local ttl = tonumber(ARGV[3])
local states = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'state', 'priority', 'key', 'expires_at', 'held',
                         'limit_key', 'rate_key', 'batch')
  local state = job[1]
  if not state or expired(job[4], now) then
    states[#states + 1] = ''
  elseif state == 'queued' or state == 'scheduled' then
    unwait(id, q, job[2], job[5], job[6], job[7])
    finish_job(id, q, 'cancelled', now, ttl, 'waiting', job[3])
    if job[6] then release_limit(q, job[6]) end
    batch_moved(job[8], q, id, 'waiting', 'cancelled', now)
    states[#states + 1] = 'cancelled'
  elseif state == 'waiting' then -- on others: it leaves no ready set, only its pending set
    redis.call('DEL', pending_key(q, id))
    finish_job(id, q, 'cancelled', now, ttl, 'blocked', job[3])
    states[#states + 1] = 'cancelled'
  elseif state == 'running' then
    redis.call('HSET', jk, 'cancel', 1)
    states[#states + 1] = 'running'
  else
    states[#states + 1] = state
  end
end
flush(now)
return with_dirty(states)
