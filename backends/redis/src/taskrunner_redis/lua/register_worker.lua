-- ARGV: prefix, worker id, its description (JSON, without last_seen), ttl_us. Records that
-- the worker is alive now. The registry's keys share the tag {@workers} (no queue name can
-- hold an @).
local now = now_us()
local info = cjson.decode(ARGV[3])
info.last_seen = fmt(now)
redis.call('HSET', P .. ':{@workers}:info', ARGV[2], cjson.encode(info))
redis.call('ZADD', P .. ':{@workers}:alive', now + tonumber(ARGV[4]), ARGV[2])
return 1
