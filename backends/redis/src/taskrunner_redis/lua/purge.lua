-- ARGV: prefix, queue, state, finished_before_us ('' for any), batch, offset. Deletes jobs of
-- the queue in one state, examining at most `batch` of them from rank `offset` on (finished
-- states) or from the head (queued, scheduled, and waiting on others). Returns {deleted,
-- next offset or -1 when done}; finished jobs whose retention had ended are deleted but not
-- counted (they were gone).
local q, state = ARGV[2], ARGV[3]
local now = now_us()
local before, batch = ARGV[4], tonumber(ARGV[5])
local offset = tonumber(ARGV[6])
local deleted = 0
if FINISHED[state] then
  local done = queue_key(q, 'done:' .. state)
  local members = redis.call('ZRANGE', done, offset, offset + batch - 1, 'WITHSCORES')
  local examined, removed = #members / 2, 0
  for i = 1, #members, 2 do
    local id = members[i]
    local finished_at = tonumber(redis.call('HGET', job_key(q, id), 'finished_at') or '0')
    if before == '' or finished_at < tonumber(before) then
      delete_job(id, q)
      redis.call('ZREM', done, id)
      removed = removed + 1
      if not expired(members[i + 1], now) then deleted = deleted + 1 end
    end
  end
  if examined < batch then return {deleted, -1} end
  return {deleted, offset + examined - removed}
end
if state == 'waiting' and before == '' then -- on others: in no ready set, nor held
  local blocked = redis.call('ZRANGE', index_key(q, 'blocked'), 0, batch - 1)
  for _, id in ipairs(blocked) do delete_job(id, q) end
  if #blocked < batch then return {#blocked, -1} end
  return {#blocked, 0}
end
if (state ~= 'queued' and state ~= 'scheduled') or before ~= '' then
  return {0, -1} -- running jobs are never purged; unfinished jobs have no finish time
end
local low, high = '-inf', now
if state == 'scheduled' then low, high = '(' .. string.format('%d', now), '+inf' end
-- a purged job with a limit key may have been handed a freed slot: its key releases what its
-- free slots admit once the run is done (as cancel does)
local limit_keys = {}
local function purge_waiting(id, prio, held)
  local job = redis.call('HMGET', job_key(q, id), 'limit_key', 'rate_key')
  unwait(id, q, prio, held, job[1], job[2])
  delete_job(id, q)
  if job[1] then limit_keys[job[1]] = true end
  deleted = deleted + 1
end
local function done(next_offset)
  for key, _ in pairs(limit_keys) do release_limit(q, key) end
  return {deleted, next_offset}
end
for _, prio in ipairs(redis.call('ZRANGE', queue_key(q, 'prios'), 0, -1)) do
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', ready_key(q, prio), low, high,
                                 'LIMIT', 0, batch - deleted)) do
    purge_waiting(id, prio, false)
  end
  if deleted >= batch then return done(0) end
end
if state == 'queued' then -- and those set aside for a limit or rate key
  local held = queue_key(q, 'held')
  for _, id in ipairs(redis.call('ZRANGE', held, 0, batch - deleted - 1)) do
    local job = redis.call('HMGET', job_key(q, id), 'priority', 'held')
    redis.call('ZREM', held, id)
    if job[1] then purge_waiting(id, job[1], job[2]) end -- else deleted by hand already
  end
  if deleted >= batch then return done(0) end
end
return done(-1)
