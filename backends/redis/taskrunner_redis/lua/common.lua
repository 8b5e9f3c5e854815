-- Shared by every script (prepended when the scripts are loaded). ARGV[1] is the key prefix.
-- Times are integer microseconds since the epoch on the Redis clock. Numbers are passed to
-- redis.call as Lua numbers (converted exactly); never concatenate a time into a string.
local P = ARGV[1]
local FINISHED = {succeeded = true, failed = true, cancelled = true}

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function job_key(id) return P .. ':job:' .. id end
local function dedup_key(key) return P .. ':key:' .. key end
local function queue_key(q, suffix) return P .. ':{' .. q .. '}:' .. suffix end
local function ready_key(q, prio) return queue_key(q, 'ready:' .. prio) end

-- a job waiting to run (queued, or scheduled for later) sits in its priority's sorted set
local function put_ready(id, q, prio, run_at)
  redis.call('ZADD', ready_key(q, prio), run_at, id)
  redis.call('ZADD', queue_key(q, 'prios'), tonumber(prio), prio)
end

local function take_ready(id, q, prio)
  local key = ready_key(q, prio)
  redis.call('ZREM', key, id)
  if redis.call('ZCARD', key) == 0 then
    redis.call('ZREM', queue_key(q, 'prios'), prio)
  end
end

-- wake up to `n` workers blocked on the queue; the list stays short
local function wake(q, n)
  local key = queue_key(q, 'wake')
  for _ = 1, math.min(n, 16) do
    redis.call('LPUSH', key, '1')
  end
  redis.call('LTRIM', key, 0, 15)
end

local function notify_finished(id)
  if redis.call('EXISTS', P .. ':waiting:' .. id) == 1 then
    redis.call('PUBLISH', P .. ':finished', id)
  end
end

-- move a job to a finished state; ttl_us < 0 keeps its record until purged
local function finish_job(id, q, state, now, ttl_us)
  local jk = job_key(id)
  redis.call('HSET', jk, 'state', state, 'finished_at', now)
  redis.call('HDEL', jk, 'lease_until')
  local expires = '+inf'
  if ttl_us >= 0 then
    expires = now + ttl_us
    -- Redis expiry is the safety net; reclaim prunes on time so counts stay exact
    local seconds = math.ceil(ttl_us / 1000000) + 60
    redis.call('EXPIRE', jk, seconds)
    local key = redis.call('HGET', jk, 'key')
    if key then redis.call('EXPIRE', dedup_key(key), seconds) end
  end
  redis.call('ZADD', queue_key(q, 'done:' .. state), expires, id)
  notify_finished(id)
end

local function delete_job(id)
  local jk = job_key(id)
  local key = redis.call('HGET', jk, 'key')
  if key and redis.call('GET', dedup_key(key)) == id then
    redis.call('DEL', dedup_key(key))
  end
  redis.call('DEL', jk)
end
