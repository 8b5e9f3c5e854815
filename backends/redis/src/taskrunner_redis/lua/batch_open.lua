-- ARGV: prefix, batch, then field and value pairs describing its callbacks. Stores the batch,
-- open and without members; an id stored already changes nothing. Returns 1 if stored.
local key = batch_key(ARGV[2], 'batch')
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, 'created_at', now_us(), 'closed', 0, unpack(ARGV, 3))
return 1
