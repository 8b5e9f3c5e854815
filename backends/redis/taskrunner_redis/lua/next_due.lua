-- ARGV: prefix, queue. Microseconds until the queue's earliest waiting job is due (0: one is
-- due now), or -1 when it holds no waiting job.
local q = ARGV[2]
local now = now_us()
local earliest = false
for _, prio in ipairs(redis.call('ZRANGE', queue_key(q, 'prios'), 0, -1)) do
  local head = redis.call('ZRANGE', ready_key(q, prio), 0, 0, 'WITHSCORES')
  if head[2] and (not earliest or tonumber(head[2]) < earliest) then
    earliest = tonumber(head[2])
  end
end
if not earliest then return -1 end
return math.max(earliest - now, 0)
