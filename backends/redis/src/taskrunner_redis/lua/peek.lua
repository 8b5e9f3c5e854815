-- ARGV: prefix, queue, limit. Returns up to `limit` of the queue's due jobs, best first, as a
-- flat list of priority, due time, id. A worker on several queues reads every queue's head
-- this way, then claims from each queue its share of the best. A paused queue has none. The
-- one change it makes: rate windows that opened release their held jobs first (as a claim
-- does), so a queue whose only due jobs are such gets its share (else a worker kept busy by
-- other queues would never claim from it, nor wait and release them through next_due).
local q = ARGV[2]
local out = {}
if redis.call('EXISTS', queue_key(q, 'paused')) == 1 then return out end -- paused
local now = now_us()
open_windows(q, now)
for _, c in ipairs(due_candidates(q, now, tonumber(ARGV[3]))) do
  out[#out + 1] = c[1]
  out[#out + 1] = fmt(c[2])
  out[#out + 1] = c[3]
end
return out
