-- ARGV: prefix, queue, mode ('read' or 'close'), batch... Per batch, its part on the queue:
-- {total, v, ended_at or false, open or false, dirty mark or false}, then pairs of a state
-- and how many members are in it (the caller orders them; no member waits on others).
-- 'close' first closes the part (open 0, also for a part without members yet), so no
-- member joins it any more (enqueue.lua).
local q, mode = ARGV[2], ARGV[3]
local now = now_us()
local parts = {}
for i = 4, #ARGV do
  local b = ARGV[i]
  local counts = part_key(q, 'bc', b)
  if mode == 'close' then redis.call('HSET', counts, 'open', 0) end
  local waiting = part_key(q, 'bw', b)
  local c = redis.call('HMGET', counts, 'running', 'succeeded', 'failed', 'cancelled', 'v',
                       'ended_at', 'open')
  parts[#parts + 1] = {
    redis.call('ZCARD', part_key(q, 'bm', b)), tonumber(c[5]) or 0, c[6], c[7],
    redis.call('ZSCORE', queue_key(q, 'bdirty'), b),
    'queued', redis.call('ZCOUNT', waiting, '-inf', now),
    'scheduled', redis.call('ZCOUNT', waiting, '(' .. fmt(now), '+inf'),
    'running', tonumber(c[1]) or 0, 'succeeded', tonumber(c[2]) or 0,
    'failed', tonumber(c[3]) or 0, 'cancelled', tonumber(c[4]) or 0,
  }
end
return parts
