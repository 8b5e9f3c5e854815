-- ARGV: prefix, queue. Resumes the queue: drops its pause mark and, if it was paused, wakes
-- the workers blocked on it as an enqueue does. Returns 1 if it was paused, else 0.
local q = ARGV[2]
if redis.call('DEL', queue_key(q, 'paused')) == 0 then return 0 end
wake(q, 16)
return 1
