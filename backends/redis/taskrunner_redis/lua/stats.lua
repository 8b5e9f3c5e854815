-- ARGV: prefix, queue... (none: every known queue). Returns per queue: name, queued,
-- scheduled, running, succeeded, failed, cancelled.
local now = now_us()
local queues = {}
for i = 2, #ARGV do queues[#queues + 1] = ARGV[i] end
if #queues == 0 then queues = redis.call('SMEMBERS', P .. ':queues') end
local out = {}
for _, q in ipairs(queues) do
  local queued, scheduled = 0, 0
  for _, prio in ipairs(redis.call('ZRANGE', queue_key(q, 'prios'), 0, -1)) do
    queued = queued + redis.call('ZCOUNT', ready_key(q, prio), '-inf', now)
    scheduled = scheduled + redis.call('ZCOUNT', ready_key(q, prio), '(' .. string.format('%d', now), '+inf')
  end
  out[#out + 1] = {q, queued, scheduled, redis.call('ZCARD', queue_key(q, 'leases')),
                   redis.call('ZCARD', queue_key(q, 'done:succeeded')),
                   redis.call('ZCARD', queue_key(q, 'done:failed')),
                   redis.call('ZCARD', queue_key(q, 'done:cancelled'))}
end
return out
