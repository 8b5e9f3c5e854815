-- ARGV: prefix, queue, id, ttl_us. Someone waits up to ttl_us for the job to finish: the
-- script that finishes it publishes its id on P:finished (see notify_finished).
local q = ARGV[2]
redis.call('ZADD', queue_key(q, 'waiters'), 'GT', now_us() + tonumber(ARGV[4]), ARGV[3])
return 1
