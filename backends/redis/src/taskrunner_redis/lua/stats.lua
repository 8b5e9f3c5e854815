-- ARGV: prefix, queue. Returns how many of the queue's jobs are queued, scheduled, running,
-- succeeded, failed and cancelled. Finished jobs whose retention has ended are not counted:
-- the done sets are scored by expiry. Jobs held for a limit or rate key count as queued.
local q = ARGV[2]
local now = now_us()
local queued, scheduled = 0, 0
for _, prio in ipairs(redis.call('ZRANGE', queue_key(q, 'prios'), 0, -1)) do
  queued = queued + redis.call('ZCOUNT', ready_key(q, prio), '-inf', now)
  scheduled = scheduled + redis.call('ZCOUNT', ready_key(q, prio), '(' .. fmt(now), '+inf')
end
queued = queued + redis.call('ZCARD', queue_key(q, 'held'))
local function kept(state)
  return redis.call('ZCOUNT', queue_key(q, 'done:' .. state), '(' .. fmt(now), '+inf')
end
return {queued, scheduled, redis.call('ZCARD', queue_key(q, 'leases')),
        kept('succeeded'), kept('failed'), kept('cancelled')}
