-- Dependencies, the queue's side (shared by every script after batch.lua; the whole design
-- is in dependencies.py). A job A and a job D waiting on it may sit on different queues
-- (slots), so each side keeps its own keys, under its queue's hash tag:
--   dependents:<A>  hash, on A's queue: the jobs waiting on A (dependent id -> its queue),
--                   and '@end' -> the state A ended in, once it did (mark_dependents)
--   ddirty          sorted set, on A's queue: ended jobs whose dependents are not judged
--                   yet, by when they ended
--   pending:<D>     set, on D's queue: D's dependencies not met yet
--   early:<D>       hash, on D's queue: dependency id -> end state, for ends judged before D
--                   itself was stored (expires after a day)
-- A job waiting on others is in state 'waiting', in the index ix:blocked and in no ready
-- set; its hash keeps `after` (its dependencies, JSON), `after_anyway` (1: any end counts
-- as met) and `after_ttl` (us its record is kept if a dependency cancels it), if given.

local EARLY_TTL = 86400 -- seconds an early end waits for its dependent to be stored

local function pending_key(q, id) return queue_key(q, 'pending:' .. id) end
local function early_key(q, id) return queue_key(q, 'early:' .. id) end

-- a JSON string as orjson writes it (only '"', '\' and control characters are escaped)
local JSON_ESCAPES = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                      ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}

local function json_string(text)
  local escaped = string.gsub(text, '[%z\1-\31"\\]', function(c)
    return JSON_ESCAPES[c] or string.format('\\u%04x', string.byte(c))
  end)
  return '"' .. escaped .. '"'
end

-- the error kept on a job cancelled because its dependency `dep` ended in `state` (failed or
-- cancelled): the very bytes of taskrunner.backend.dependency_error
local function dependency_error(dep, state)
  local how = 'was cancelled'
  if state == 'failed' then how = 'failed' end
  return '{"type":"DependencyFailed","message":' ..
    json_string('its dependency ' .. dep .. ' ' .. how) .. ',"traceback":""}'
end

-- Whether a dependency that ended in `state` is met for a job (`anyway`: any end is).
-- Answers 'met', 'unmet' (not ended) or 'broken' (it failed or was cancelled).
local function dependency_verdict(state, anyway)
  if state == 'succeeded' or (anyway and FINISHED[state]) then return 'met' end
  if FINISHED[state] then return 'broken' end
  return 'unmet'
end

-- How a new job `id` waiting on others starts. `deps` is its enqueue header's entry: its
-- `after` as JSON, run-anyway, ttl_us or false, and per dependency {id, state} as
-- dep_register answered it ('waiting' or an end); ends judged before the job was stored
-- (early:<id>) count too. Answers 'ready'; 'waiting' and the unmet ids; or 'cancelled' and
-- the error, naming the first broken dependency.
local function judge_new(q, id, deps)
  local early, ended = early_key(q, id), {}
  if redis.call('EXISTS', early) == 1 then
    local flat = redis.call('HGETALL', early)
    for i = 1, #flat, 2 do ended[flat[i]] = flat[i + 1] end
    redis.call('DEL', early)
  end
  local unmet = {}
  for _, dep in ipairs(deps[4]) do
    local dep_id, state = dep[1], dep[2]
    if state == 'waiting' then state = ended[dep_id] or state end
    local verdict = dependency_verdict(state, deps[2])
    if verdict == 'broken' then return 'cancelled', dependency_error(dep_id, state) end
    if verdict == 'unmet' then unmet[#unmet + 1] = dep_id end
  end
  if #unmet == 0 then return 'ready' end
  return 'waiting', unmet
end
