-- Batches, the queue's side (shared by every script after flow.lua; the whole design is in
-- batches.py). The members of batch <b> on queue q make the batch's part there, kept under
-- the queue's hash tag and changed in the same script run as each member's state:
--   bm:<b>     sorted set: the part's member ids (score 0: by id, the order they were made)
--   bw:<b>     sorted set: its waiting members (queued or scheduled) by due time
--   bc:<b>     hash: 'open' (1 while members may join, 0 once the batch closed), how many
--              members are running, succeeded, failed, cancelled, 'v' (changes so far) and
--              'ended_at' (when its last unfinished member ended; absent while one is not)
--   bdirty     sorted set: batches whose part here ended, by when; settling them is the
--              caller's (each script answers the ones it marked) or, after a crash, upkeep's
--   bfired:<b>:<kind>  string: the batch's callback was stored (see enqueue.lua)
-- A job that is a member keeps its batch id in its hash field `batch`.

local function part_key(q, suffix, b) return queue_key(q, suffix .. ':' .. b) end

local dirty, dirty_seen = {}, {} -- the batches this script run marked, in order
resets[#resets + 1] = function() dirty, dirty_seen = {}, {} end

local function mark_dirty(q, b, now)
  redis.call('ZADD', queue_key(q, 'bdirty'), now, b)
  if not dirty_seen[b] then
    dirty_seen[b] = true
    dirty[#dirty + 1] = b
  end
end

-- members of the part that are queued, scheduled or running
local function part_unfinished(q, b)
  local running = tonumber(redis.call('HGET', part_key(q, 'bc', b), 'running')) or 0
  return redis.call('ZCARD', part_key(q, 'bw', b)) + running
end

-- A member of batch `b` (false: the job is no member, and nothing happens) moved from
-- `from` to `to`: 'waiting' (queued or scheduled, due at `run_at`), 'running' or a finished
-- state; `from` is false for a new member. The part whose last unfinished member ended
-- notes when and is marked dirty; one that starts again forgets its end.
local function batch_moved(b, q, id, from, to, now, run_at)
  if not b then return end
  local counts = part_key(q, 'bc', b)
  if from == 'waiting' and to ~= 'waiting' then
    redis.call('ZREM', part_key(q, 'bw', b), id)
  elseif from and from ~= 'waiting' then
    redis.call('HINCRBY', counts, from, -1)
  end
  if to == 'waiting' then
    redis.call('ZADD', part_key(q, 'bw', b), run_at, id)
  else
    redis.call('HINCRBY', counts, to, 1)
  end
  redis.call('HINCRBY', counts, 'v', 1)
  if FINISHED[to] then
    if part_unfinished(q, b) == 0 then
      redis.call('HSET', counts, 'ended_at', now)
      mark_dirty(q, b, now)
    end
  elseif from and FINISHED[from] then
    redis.call('HDEL', counts, 'ended_at')
  end
end

-- a script's answer, with what its changes leave to the caller appended as one more element
-- (if anything): {the batches the run marked dirty, the ended jobs others wait on}
local function with_dirty(answer)
  if #dirty > 0 or #ended_with_dependents > 0 then
    answer[#answer + 1] = {dirty, ended_with_dependents}
  end
  return answer
end

-- The batch's own keys sit under its hash tag {@b:<id>} (no queue name has an @):
--   batch     hash: created_at, closed (0 or 1), closed_at, ttl (us, -1: kept), the fired
--             flags, and per callback (on_success, on_complete) its id, queue, enqueue
--             header and payload
--   queues    set: the queues the batch has a part on
local function batch_key(b, suffix) return P .. ':{@b:' .. b .. '}:' .. suffix end
