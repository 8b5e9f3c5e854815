-- ARGV: prefix, queue, lease_us, then per beat: id, attempt, has_progress ('1' or '0'),
-- progress. Returns per beat: 'held', 'lost' or 'cancel'.
local q = ARGV[2]
local now = now_us()
local lease = tonumber(ARGV[3])
local statuses = {}
for b = 4, #ARGV, 4 do
  local id, attempt = ARGV[b], ARGV[b + 1]
  local jk = job_key(q, id)
  local job = redis.call('HMGET', jk, 'state', 'attempt', 'cancel')
  if job[1] ~= 'running' or job[2] ~= attempt then
    statuses[#statuses + 1] = 'lost'
  else
    redis.call('HSET', jk, 'lease_until', now + lease)
    redis.call('ZADD', queue_key(q, 'leases'), now + lease, id)
    if ARGV[b + 2] == '1' then redis.call('HSET', jk, 'progress', ARGV[b + 3]) end
    if job[3] == '1' then statuses[#statuses + 1] = 'cancel' else statuses[#statuses + 1] = 'held' end
  end
end
return statuses
