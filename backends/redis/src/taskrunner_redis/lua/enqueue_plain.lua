-- ARGV: prefix, queue, id, task, priority, max_attempts, delay_us, at_us ('' for none),
-- payload. One plain job (no key, batch, limit, rate or dependencies: most web handlers'
-- enqueue), stored as store.lua's enqueue_jobs stores it, in straight-line code: no JSON
-- header to decode, no closures, one command per write. Answers as enqueue.lua does.
local q, id, prio = ARGV[2], ARGV[3], ARGV[5]
local now = now_us()
local listed = redis.call('EXISTS', queue_key(q, 'listed'))
local jk = job_key(q, id)
if redis.call('EXISTS', jk) == 1 then return {listed, id} end -- a replay of this enqueue
local run_at = now + tonumber(ARGV[7])
if ARGV[8] ~= '' then run_at = tonumber(ARGV[8]) end
local state = 'queued'
if run_at > now then state = 'scheduled' end
local wakes = state == 'queued' or sooner_than_waiting(q, run_at) -- read before it is written
redis.call('HSET', jk, 'task', ARGV[4], 'queue', q, 'payload', ARGV[9], 'state', state,
           'priority', prio, 'attempt', '0', 'max_attempts', ARGV[6],
           'enqueued_at', text(now), 'run_at', text(run_at))
redis.call('ZADD', index_key(q, 'all'), 0, id)
redis.call('ZADD', ready_key(q, prio), text(run_at), id)
redis.call('ZADD', queue_key(q, 'prios'), tonumber(prio), prio)
redis.call('ZADD', index_key(q, 'waiting'), 0, id)
if wakes then wake(q, 1) end
return {listed, id}
