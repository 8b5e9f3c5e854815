-- Storing new jobs (shared by every function after deps.lua): enqueue.lua, and the
-- taskrunner_enqueue function of the public library (door.lua).
-- enqueue_jobs(q, jobs, payloads) stores on queue q one job per entry of `jobs`, [id, task,
-- priority, max_attempts, key or false, delay_us, at_us or false, window_ms or false, flow,
-- batch or false, once (optional), deps (optional)], with payloads[i] the payload of jobs[i].
-- `flow` is false, or [limit_key or false, limit_max, rate_key or false, rate_max, rate_per
-- (text: seconds)], kept on the job's hash for the claim (flow.lua). A `batch` makes the job
-- a member of that batch's part on the queue (batch.lua), which must be open: a closed part
-- refuses the whole call before any write, answering {-1, batch}. `once` names a key of the
-- queue that marks the job as stored once and for all (a batch's callback): while it exists
-- the job is not stored again, even after its own record is gone. A job with a window_ms
-- holds its key in P:{q}:window:<key> (the opener's id, expiring after the window) instead
-- of P:{q}:key:<key>, and does not keep it on its hash. Answers 1 if the queue is marked as
-- listed in P:queues (0: the client must list it), then each job's id, or the id of the job
-- holding its dedup key in the queue. Storing an id that exists already changes nothing, so
-- a retry is safe. A holder whose retention has ended (or whose hash is gone) is deleted
-- here, and the new job takes the key. `deps` makes the job wait on others (deps.lua:
-- judge_new): it is stored waiting, or cancelled at once (kept after_ttl), or queued as any
-- other once they are all met. A new job due now behind a backlog of its limit key is stored
-- held for that key (flow.lua: parks).
local function enqueue_jobs(q, jobs, payloads)
  local now = now_us()
  local ids = {redis.call('EXISTS', queue_key(q, 'listed'))}
  local wakes = 0 -- idle workers to wake: one per job due now or sooner than the others
  local levels = {} -- priority levels added to the queue's prios in this run

  local function add_fields(fields, ...)
    for _, value in ipairs({...}) do fields[#fields + 1] = value end
  end

  local function holds_key(holder)
    local job = redis.call('HMGET', job_key(q, holder), 'state', 'expires_at')
    if job[1] and not expired(job[2], now) then return true end
    if job[1] then redis.call('ZREM', queue_key(q, 'done:' .. job[1]), holder) end
    delete_job(holder, q)
    return false
  end

  for _, job in ipairs(jobs) do
    if job[10] and redis.call('HGET', part_key(q, 'bc', job[10]), 'open') == '0'
        and redis.call('EXISTS', job_key(q, job[1])) == 0 then
      return {-1, job[10]}
    end
  end

  -- a new member: listed in its part, counted as waiting (the part opens with its first one)
  local joined = {}
  local function join_batch(b, id, run_at)
    if not joined[b] then
      joined[b] = true
      redis.call('HSETNX', part_key(q, 'bc', b), 'open', 1)
    end
    later_zadd(part_key(q, 'bm', b), 0, id)
    later_zadd(part_key(q, 'bw', b), run_at, id)
    redis.call('HINCRBY', part_key(q, 'bc', b), 'v', 1)
  end

  -- put a new job where claims find it: in its priority's ready set by due time (or, parked,
  -- in its limit key's held set: flow.lua)
  local function make_ready(job, id, state, run_at, parked)
    local prio = job[3]
    -- as put_ready and index_move do, gathered into one command per key (flush_later)
    if parked then
      park(id, q, prio, job[9][1], run_at, job[9][2])
    else
      later_zadd(ready_key(q, prio), run_at, id)
      if not levels[prio] then
        levels[prio] = true
        later_zadd(queue_key(q, 'prios'), tonumber(prio), prio)
      end
      if state == 'queued' or sooner_than_waiting(q, run_at) then wakes = wakes + 1 end
    end
    later_zadd(index_key(q, 'waiting'), 0, id)
    if job[10] then join_batch(job[10], id, run_at) end
  end

  -- store a new job; `key` is the dedup key it holds (false: none)
  local function store(job, id, key, payload)
    local run_at = now + job[6]
    if job[7] then run_at = job[7] end
    local state = 'queued'
    if run_at > now then state = 'scheduled' end
    local deps, start, detail = job[12], 'ready', nil
    if deps then
      start, detail = judge_new(q, id, deps)
      if start ~= 'ready' then state = 'waiting' end
    end
    local fields = {'task', job[2], 'queue', q, 'payload', payload, 'state', state,
                    'priority', job[3], 'attempt', '0', 'max_attempts', text(job[4]),
                    'enqueued_at', text(now), 'run_at', text(run_at)}
    if key then add_fields(fields, 'key', key) end
    if job[10] then add_fields(fields, 'batch', job[10]) end
    local flow = job[9]
    if flow and flow[1] then add_fields(fields, 'limit_key', flow[1], 'limit_max', flow[2]) end
    if flow and flow[3] then
      add_fields(fields, 'rate_key', flow[3], 'rate_max', flow[4], 'rate_per', flow[5])
    end
    if deps then add_fields(fields, 'after', deps[1]) end
    if deps and deps[2] then add_fields(fields, 'after_anyway', 1) end
    if deps and deps[3] then add_fields(fields, 'after_ttl', deps[3]) end
    local parked = start == 'ready' and state == 'queued' and not job[7] and flow and flow[1]
      and parks(q, job[3], flow[1], flow[2])
    if parked then add_fields(fields, 'held', 'limit') end
    redis.call('HSET', job_key(q, id), unpack(fields))
    later_zadd(index_key(q, 'all'), 0, id)
    if start == 'ready' then
      make_ready(job, id, state, run_at, parked)
    elseif start == 'waiting' then
      chunked('SADD', pending_key(q, id), detail, 1000)
      later_zadd(index_key(q, 'blocked'), 0, id)
    else -- a dependency failed or was cancelled already
      finish_job(id, q, 'cancelled', now, deps[3] or -1, 'blocked', key, 'error', detail)
    end
  end

  for i, job in ipairs(jobs) do
    local id, key = job[1], job[5]
    local jk = job_key(q, id)
    local holder = false
    if job[11] and redis.call('SET', queue_key(q, job[11]), id, 'NX') == false then
      holder = id -- stored once already (a batch's callback)
    elseif redis.call('EXISTS', jk) == 1 then
      holder = id -- a replay of this enqueue (the client retried after losing the reply)
    elseif key and job[8] then
      holder = redis.call('GET', queue_key(q, 'window:' .. key))
      if not holder then
        redis.call('SET', queue_key(q, 'window:' .. key), id, 'PX', job[8])
      end
      key = false -- a windowed key is not kept on the job
    elseif key then
      holder = redis.call('GET', dedup_key(q, key))
      if holder and not holds_key(holder) then holder = false end
      if not holder then redis.call('SET', dedup_key(q, key), id) end
    end
    if holder then
      ids[#ids + 1] = holder
    else
      store(job, id, key, payloads[i])
      ids[#ids + 1] = id
    end
  end
  flush_later()
  if wakes > 0 then wake(q, wakes) end
  return ids
end
