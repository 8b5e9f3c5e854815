-- ARGV: prefix, queue. The clock (us), then microseconds until the queue's earliest waiting
-- job is due (0: one is due now), or -1 when it holds no waiting job or is paused. Jobs held
-- for a limit or rate key do not count; a rate window that has opened releases its held jobs
-- here (as a claim would), and the next opening counts as a due time, so an idle worker
-- wakes then.
local q = ARGV[2]
local now = now_us()
if redis.call('EXISTS', queue_key(q, 'paused')) == 1 then return {now, -1} end -- none due
open_windows(q, now)
local opening = next_window_opening(q)
local earliest = earliest_due(q)
if opening and (not earliest or opening < earliest) then earliest = opening end
if not earliest then return {now, -1} end
return {now, math.max(earliest - now, 0)}
