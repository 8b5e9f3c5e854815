-- ARGV: prefix, queue, limit. Changes nothing: returns up to `limit` of the queue's due jobs,
-- best first, as a flat list of priority, due time, id. A worker on several queues reads
-- every queue's head this way, then claims from each queue its share of the best. A paused
-- queue has none.
local q = ARGV[2]
local out = {}
if redis.call('EXISTS', queue_key(q, 'paused')) == 1 then return out end -- paused
for _, c in ipairs(due_candidates(q, now_us(), tonumber(ARGV[3]))) do
  out[#out + 1] = c[1]
  out[#out + 1] = fmt(c[2])
  out[#out + 1] = c[3]
end
return out
