-- ARGV: prefix, batch, ttl_us (-1: kept until purged). Closes the batch: no queue joins it
-- any more (its parts are closed by the settle that follows, see batches.py). Returns 0 for
-- an unknown batch, 2 if it was closed already (nothing changes), else 1.
local key = batch_key(ARGV[2], 'batch')
local closed = redis.call('HGET', key, 'closed')
if not closed then return 0 end
if closed == '1' then return 2 end
redis.call('HSET', key, 'closed', 1, 'closed_at', now_us(), 'ttl', ARGV[3])
return 1
