-- ARGV: prefix, lease_us, then per beat: id, attempt, has_progress ('1' or '0'), progress.
-- Returns per beat: 'held', 'lost' or 'cancel'.
local now = now_us()
local lease = tonumber(ARGV[2])
local statuses = {}
for b = 3, #ARGV, 4 do
  local id, attempt = ARGV[b], ARGV[b + 1]
  local jk = job_key(id)
  local job = redis.call('HMGET', jk, 'state', 'attempt', 'queue', 'cancel')
  if job[1] ~= 'running' or job[2] ~= attempt then
    statuses[#statuses + 1] = 'lost'
  else
    redis.call('HSET', jk, 'lease_until', now + lease)
    redis.call('ZADD', queue_key(job[3], 'leases'), now + lease, id)
    if ARGV[b + 2] == '1' then redis.call('HSET', jk, 'progress', ARGV[b + 3]) end
    if job[4] == '1' then statuses[#statuses + 1] = 'cancel' else statuses[#statuses + 1] = 'held' end
  end
end
return statuses
