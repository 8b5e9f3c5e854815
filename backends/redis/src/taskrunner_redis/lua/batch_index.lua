-- ARGV: prefix, op, ... The batches' indexes, under the hash tag {@batches}:
--   all        sorted set: every batch id (score 0: by id, the order they were made)
--   closing    sorted set: batches being closed, by when upkeep settles them if the closer
--              did not get to it (a crash)
--   expiring   sorted set: closed batches with a ttl, by the earliest their record may expire
-- op 'closing', batch, grace_us, ttl_us: the batch is about to close. op 'due', limit:
-- returns {closing ids due, expiring ids due}. op 'expires', batch, delay_us: look again then.
local function idx(name) return P .. ':{@batches}:' .. name end
local op = ARGV[2]
local now = now_us()
if op == 'closing' then
  redis.call('ZADD', idx('closing'), now + tonumber(ARGV[4]), ARGV[3])
  if tonumber(ARGV[5]) >= 0 then
    redis.call('ZADD', idx('expiring'), 'NX', now + tonumber(ARGV[5]), ARGV[3])
  end
elseif op == 'expires' then
  redis.call('ZADD', idx('expiring'), now + tonumber(ARGV[4]), ARGV[3])
elseif op == 'due' then
  local limit = tonumber(ARGV[3])
  return {redis.call('ZRANGEBYSCORE', idx('closing'), '-inf', now, 'LIMIT', 0, limit),
          redis.call('ZRANGEBYSCORE', idx('expiring'), '-inf', now, 'LIMIT', 0, limit)}
end
return 1
