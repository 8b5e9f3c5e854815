-- ARGV: prefix, queue. Returns how many of the queue's jobs are in each state, as pairs of a
-- state and its count (the caller orders them). Finished jobs whose retention has ended are
-- not counted: the done sets are scored by expiry. Jobs held for a limit or rate key count as
-- queued.
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
return {'waiting', redis.call('ZCARD', index_key(q, 'blocked')), 'queued', queued,
        'scheduled', scheduled, 'running', redis.call('ZCARD', queue_key(q, 'leases')),
        'succeeded', kept('succeeded'), 'failed', kept('failed'),
        'cancelled', kept('cancelled')}
