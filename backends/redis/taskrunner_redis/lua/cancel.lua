-- ARGV: prefix, ttl_us (negative: keep), id... Returns each job's state afterwards ('' for
-- unknown ids).
local now = now_us()
local ttl = tonumber(ARGV[2])
local states = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local jk = job_key(id)
  local job = redis.call('HMGET', jk, 'state', 'queue', 'priority')
  local state = job[1]
  if not state then
    states[#states + 1] = ''
  elseif state == 'queued' or state == 'scheduled' then
    take_ready(id, job[2], job[3])
    finish_job(id, job[2], 'cancelled', now, ttl, 'waiting')
    states[#states + 1] = 'cancelled'
  elseif state == 'running' then
    redis.call('HSET', jk, 'cancel', 1)
    states[#states + 1] = 'running'
  else
    states[#states + 1] = state
  end
end
return states
