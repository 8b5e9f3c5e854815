-- ARGV: prefix, queue. Returns the queue's running jobs that hold a slot of a limit key
-- (read from its lease set, small: at most what its workers run) and its jobs held for a
-- limit or rate key (flow.lua's held set).
local q = ARGV[2]
local running = 0
for _, id in ipairs(redis.call('ZRANGE', queue_key(q, 'leases'), 0, -1)) do
  if redis.call('HEXISTS', job_key(q, id), 'limit_key') == 1 then running = running + 1 end
end
return {running, redis.call('ZCARD', queue_key(q, 'held'))}
