-- ARGV: prefix. Forgets workers whose time ran out; returns the descriptions of the others.
local now = now_us()
local alive, info = P .. ':{@workers}:alive', P .. ':{@workers}:info'
for _, id in ipairs(redis.call('ZRANGEBYSCORE', alive, '-inf', now)) do
  redis.call('HDEL', info, id)
end
redis.call('ZREMRANGEBYSCORE', alive, '-inf', now)
local ids = redis.call('ZRANGE', alive, 0, -1)
if #ids == 0 then return {} end
return redis.call('HMGET', info, unpack(ids))
