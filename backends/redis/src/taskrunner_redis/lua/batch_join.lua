-- ARGV: prefix, batch, queue... Before members are stored on these queues: if the batch is
-- open, notes them as queues it has parts on and returns 1; else (closed, or unknown)
-- returns 0. A close, which happens in this slot too, sees every queue noted before it.
local b = ARGV[2]
if redis.call('HGET', batch_key(b, 'batch'), 'closed') ~= '0' then return 0 end
redis.call('SADD', batch_key(b, 'queues'), unpack(ARGV, 3))
return 1
