-- ARGV: prefix, queue, since (epoch seconds, or ''). Returns the queue's recent attempts
-- ('ended_us:runtime_us:outcome', newest first), its per-minute counts (a flat list of
-- 'minute:outcome', count), the due time of its longest-waiting due job (or ''), and the
-- per-second counts of the minute `since` is in (a flat list of 'second:outcome', count).
local q = ARGV[2]
local now = now_us()
local oldest = false
for _, prio in ipairs(redis.call('ZRANGE', queue_key(q, 'prios'), 0, -1)) do
  local head = redis.call('ZRANGEBYSCORE', ready_key(q, prio), '-inf', now, 'WITHSCORES',
                          'LIMIT', 0, 1)
  if head[2] and (not oldest or tonumber(head[2]) < oldest) then oldest = tonumber(head[2]) end
end
local held = redis.call('ZRANGE', queue_key(q, 'held'), 0, 0, 'WITHSCORES') -- due, set aside
if held[2] and (not oldest or tonumber(held[2]) < oldest) then oldest = tonumber(held[2]) end
local due = ''
if oldest then due = fmt(oldest) end
local seconds = {}
if ARGV[3] ~= '' then
  local minute = fmt(math.floor(tonumber(ARGV[3]) / 60))
  seconds = redis.call('HGETALL', queue_key(q, 'seconds:' .. minute))
end
return {redis.call('LRANGE', queue_key(q, 'recent'), 0, -1),
        redis.call('HGETALL', queue_key(q, 'minutes')), due, seconds}
