-- ARGV: prefix, queue. Microseconds until the queue's earliest waiting job is due (0: one is
-- due now), or -1 when it holds no waiting job or is paused.
local q = ARGV[2]
if redis.call('EXISTS', queue_key(q, 'paused')) == 1 then return -1 end -- paused: none due
local now = now_us()
local earliest = earliest_due(q)
if not earliest then return -1 end
return math.max(earliest - now, 0)
