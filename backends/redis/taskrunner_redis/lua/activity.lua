-- ARGV: prefix, queue. Returns the queue's recent attempts ('ended_us:runtime_us:outcome',
-- newest first), its per-minute counts (a flat list of 'minute:outcome', count), and the due
-- time of its longest-waiting due job (or '').
local q = ARGV[2]
local now = now_us()
local oldest = false
for _, prio in ipairs(redis.call('ZRANGE', queue_key(q, 'prios'), 0, -1)) do
  local head = redis.call('ZRANGEBYSCORE', ready_key(q, prio), '-inf', now, 'WITHSCORES',
                          'LIMIT', 0, 1)
  if head[2] and (not oldest or tonumber(head[2]) < oldest) then oldest = tonumber(head[2]) end
end
local due = ''
if oldest then due = fmt(oldest) end
return {redis.call('LRANGE', queue_key(q, 'recent'), 0, -1),
        redis.call('HGETALL', queue_key(q, 'minutes')), due}
