-- The public door, FCALL taskrunner_enqueue 1 <prefix>:{<queue>}:prios <job document>: a
-- job enqueued from any language (docs/any-language.md). The document (the JSON Schema
-- taskrunner/schemas/job-v1.json) is read with the rules of a Python enqueue
-- (taskrunner.job_format, Task.options, Task.prepare): unknown fields refused, each field
-- of its type, the task known to the registry in the queue's slot (P:{q}:tasks, which
-- workers fill: registry.py), its settings as defaults, the arguments checked against its
-- parameters, its limit and rate keys worked out, the payload within the publishing
-- runner's limit. The job is stored as enqueue.lua stores one (store.lua), with a UUIDv7
-- id made here. Answers the job's id, or the id of the job holding its dedup key; or an
-- error reply saying what is wrong, before anything is written.
-- Not taken here: `after` (the jobs waited on may sit on other queues, out of this call's
-- slot), and fields of a key template other than plain {name}s.
local DOOR_TEN_YEARS = 315360000 -- taskrunner.retry.MAX_SECONDS
local DOOR_MAX_PAYLOAD = 1048576 -- taskrunner's default, for a spec that does not say
local DOOR_CALL = 'call it as FCALL taskrunner_enqueue 1 <prefix>:{<queue>}:prios <job JSON> ' ..
                  '(or 2 <prefix>:{<queue>}:prios <prefix>:{<queue>}:absent <job JSON>)'

-- the document's options (taskrunner.job_format.OPTION_TYPES) and what each takes
local DOOR_OPTIONS = {
  {'queue', 'a string'}, {'priority', 'an integer'}, {'delay', 'an integer or a number'},
  {'run_at', 'an integer or a number or a string'}, {'key', 'a string'},
  {'key_ttl', 'an integer or a number'}, {'retries', 'an integer'},
  {'timeout', 'an integer or a number'}, {'expires', 'an integer or a number'},
  {'after', 'a list'}, {'run_anyway', 'true or false'}, {'limit_key', 'a string'},
  {'rate_key', 'a string'},
}
local DOOR_KINDS = {
  ['a string'] = {string = true}, ['an integer'] = {integer = true},
  ['an integer or a number'] = {integer = true, number = true},
  ['an integer or a number or a string'] = {integer = true, number = true, string = true},
  ['a list'] = {array = true}, ['true or false'] = {['true'] = true, ['false'] = true},
}
-- every field a document may have (written out: ipairs is not there while a library loads)
local DOOR_FIELDS = {format = true, task = true, args = true, kwargs = true, queue = true,
                     priority = true, delay = true, run_at = true, key = true, key_ttl = true,
                     retries = true, timeout = true, expires = true, after = true,
                     run_anyway = true, limit_key = true, rate_key = true}

local function shown_json(text, node) return quoted(json_compact(text, node)) end

-- the document's fields by name; refuses unknown and repeated ones
local function document_fields(text, root)
  if root.kind ~= 'object' then refuse('a job document is a JSON object with at least a task') end
  local fields, unknown = {}, {}
  for name, node in json_children(text, root) do
    if fields[name] then refuse('the job document gives ' .. quoted(name) .. ' twice') end
    fields[name] = node
    if not DOOR_FIELDS[name] and #unknown < 20 then unknown[#unknown + 1] = quoted(name) end
  end
  if #unknown > 0 then
    local known = {}
    for name in pairs(DOOR_FIELDS) do known[#known + 1] = name end
    table.sort(unknown)
    table.sort(known)
    refuse('unknown field(s) ' .. table.concat(unknown, ', ') .. ' in the job document; it ' ..
           'takes ' .. table.concat(known, ', '))
  end
  return fields
end

-- the options given (not null), each checked for its JSON type
local function typed_options(text, fields)
  local options = {}
  for _, option in ipairs(DOOR_OPTIONS) do
    local name, wanted = option[1], option[2]
    local node = fields[name]
    if node and node.kind ~= 'null' then
      if not DOOR_KINDS[wanted][node.kind] then
        refuse(name .. ' must be ' .. wanted .. ', got ' .. shown_json(text, node))
      end
      options[name] = node
    end
  end
  return options
end

-- seconds as taskrunner.retry.seconds takes them; `positive`: more than 0 too
local function seconds_of(text, node, what, positive)
  local value = json_value(text, node)
  if value < 0 then refuse(what .. ' must not be negative, got ' .. shown_json(text, node)) end
  if value > DOOR_TEN_YEARS then
    refuse(what .. ' must be at most ' .. DOOR_TEN_YEARS .. ' seconds (ten years), got ' ..
           shown_json(text, node))
  end
  if positive and value <= 0 then
    refuse(what .. ' must be > 0 seconds, got ' .. shown_json(text, node))
  end
  return value
end

-- days from 1970-01-01 to a date of the proleptic Gregorian calendar
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  return era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
end

local DAYS_IN_MONTH = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

-- epoch seconds of an ISO 8601 date and time with its offset
local function iso_seconds(value)
  local how = 'run_at ' .. quoted(value)
  local y, mo, d, h, mi, rest = string.match(value,
    '^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d)(.*)$')
  if not y then refuse(how .. ' is no ISO 8601 date and time (YYYY-MM-DDTHH:MM:SS+HH:MM)') end
  local s, fraction, zone = string.match(rest, '^:(%d%d)([.,]?%d*)(.*)$')
  if s then rest = zone else s, fraction = '0', '' end
  local offset = 0
  if rest ~= 'Z' and rest ~= 'z' then
    local sign, oh, om = string.match(rest, '^([+-])(%d%d):?(%d%d)$')
    if not sign then
      sign, oh = string.match(rest, '^([+-])(%d%d)$')
      om = '00'
    end
    if not sign and string.find(rest, '^[:.,]') then refuse(how .. ' is no valid time') end
    if not sign then refuse(how .. ' needs its UTC offset (e.g. Z, +02:00)') end
    oh, om = tonumber(oh), tonumber(om)
    if oh > 23 or om > 59 then refuse(how .. ' has no valid UTC offset') end
    offset = (oh * 60 + om) * 60
    if sign == '-' then offset = -offset end
  end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi),
    tonumber(s)
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  if mo < 1 or mo > 12 or d < 1 or d > DAYS_IN_MONTH[mo] or (mo == 2 and d == 29 and not leap)
      or h > 23 or mi > 59 or s > 59 or fraction == '.' or fraction == ',' then
    refuse(how .. ' is no valid date and time')
  end
  local seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
  if fraction ~= '' then seconds = seconds + tonumber('0.' .. string.sub(fraction, 2)) end
  return seconds
end

-- the due time in epoch seconds (false: none), from delay or run_at (Task.options)
local function due_time(text, options, now)
  local delay, run_at = options.delay, options.run_at
  if delay and run_at then refuse('give either delay= or at=, not both') end
  if delay then return false, seconds_of(text, delay, 'delay') end
  if not run_at then return false, 0 end
  local at = json_value(text, run_at)
  if run_at.kind == 'string' then at = iso_seconds(at)
  elseif math.abs(at) > 253402300799 then refuse('run_at ' .. at .. ' is out of range') end
  if at - now / 1000000 > DOOR_TEN_YEARS then
    refuse('at= ' .. json_compact(text, run_at) .. ' is more than ten years ahead; a job may be ' ..
           'due at most ten years from now')
  end
  return at, 0
end

-- a number as Python's repr writes a float (1.0, 0.1, 1e-05): the shortest exact text
local function float_text(value)
  if value == math.floor(value) and math.abs(value) < 1e15 then
    return string.format('%d.0', value)
  end
  for digits = 15, 16 do
    local text = string.format('%.' .. digits .. 'g', value)
    if tonumber(text) == value then return text end
  end
  return string.format('%.17g', value)
end

local function micros(seconds) return math.floor(seconds * 1000000 + 0.5) end

local function valid_queue(name)
  return #name <= 64 and string.find(name, '^[A-Za-z0-9_][A-Za-z0-9_.:%-]*$') ~= nil
end

-- the task's spec from the registry's copy in the queue's slot (registry.py)
local function task_spec(q, task)
  local stored = redis.call('HGET', queue_key(q, 'tasks'), task)
  if not stored then
    refuse('no task named ' .. quoted(task) .. ' is registered on queue ' .. quoted(q) ..
           ': a worker that serves the queue publishes its tasks when it starts')
  end
  local ok, spec = pcall(cjson.decode, stored)
  if not ok or type(spec) ~= 'table' or spec.format ~= 1 then
    refuse('the registry holds a spec of task ' .. quoted(task) .. ' that this version of ' ..
           'the library cannot read (format 1)')
  end
  local function given(value) return value ~= cjson.null and value end
  spec.parameters, spec.limit, spec.rate = given(spec.parameters), given(spec.limit),
    given(spec.rate)
  return spec
end

-- the options that replace the task's settings, checked as Task.options checks them
local function job_settings(text, options, spec, q, now)
  local job = {queue = spec.queue, priority = spec.priority, max_attempts = spec.max_attempts}
  if options.after and json_children(text, options.after)() then
    refuse('after is not taken by FCALL taskrunner_enqueue: the jobs waited on may sit on ' ..
           "other queues, out of this call's reach; enqueue it from Python or POST /api/jobs")
  end
  if options.run_anyway then refuse('run_anyway= needs jobs to wait on: give after= too') end
  for _, kind in ipairs({'limit', 'rate'}) do
    local node = options[kind .. '_key']
    if node then job[kind .. '_key'] = checked_flow_key(json_value(text, node), kind) end
    if node and not spec[kind] then
      local class = (kind == 'limit') and 'Limit' or 'Rate'
      refuse('task ' .. quoted(spec.name) .. ' has no ' .. class .. ', so ' .. kind ..
             '_key= has nothing to replace')
    end
  end
  if options.key_ttl then job.window = seconds_of(text, options.key_ttl, 'key_ttl', true) end
  if options.retries then
    local retries = json_value(text, options.retries)
    if retries < 0 then refuse('retries must be an int >= 0, got ' .. retries) end
    job.max_attempts = retries + 1
  end
  local meta = {}
  if options.timeout then
    meta[1] = '"timeout":' .. float_text(seconds_of(text, options.timeout, 'timeout', true))
  end
  if options.expires then
    meta[#meta + 1] = '"expires_in":' ..
      float_text(seconds_of(text, options.expires, 'expires', true))
  end
  job.meta = meta
  job.at, job.delay = due_time(text, options, now)
  if options.key then job.key = checked_flow_key(json_value(text, options.key), 'dedup') end
  if options.priority then
    job.priority = json_value(text, options.priority)
    if job.priority < -32768 or job.priority > 32767 then
      refuse('priority ' .. job.priority .. ' is out of range -32768..32767 (lower runs first; ' ..
             '0 is the default)')
    end
  end
  if options.queue then job.queue = json_value(text, options.queue) end
  if job.window and not job.key then refuse('key_ttl= needs a dedup key: give key= too') end
  if not valid_queue(job.queue) then
    refuse('queue name ' .. quoted(job.queue) .. ' is not allowed: use at most 64 letters, ' ..
           'digits and _ . : - (starting with a letter, digit or _)')
  end
  if job.queue ~= q then
    refuse('the job goes to queue ' .. quoted(job.queue) .. ', but the key names queue ' ..
           quoted(q) .. ': call with the key ' .. P .. ':{' .. job.queue .. '}:prios')
  end
  return job
end

-- the limit and rate fields of the job's header (store.lua), false for a task with neither
local function door_flow(text, spec, job, bound)
  local limit, rate = spec.limit, spec.rate
  if not limit and not rate then return false end
  local flow = {false, 0, false, 0, '0.0'}
  if limit then
    flow[1] = job.limit_key or flow_key_of(text, spec.name, limit, 'limit', bound)
    flow[2] = limit.max
  end
  if rate then
    flow[3] = job.rate_key or flow_key_of(text, spec.name, rate, 'rate', bound)
    flow[4], flow[5] = rate.n, float_text(rate.per)
  end
  return flow
end

-- the payload as taskrunner._serialization.encode_payload writes it, within the limit
local function door_payload(text, fields, meta, spec)
  local parts = {'{"args":', fields.args and json_compact(text, fields.args) or '[]',
                 ',"kwargs":', fields.kwargs and json_compact(text, fields.kwargs) or '{}'}
  if #meta > 0 then parts[#parts + 1] = ',"meta":{' .. table.concat(meta, ',') .. '}' end
  parts[#parts + 1] = '}'
  local payload = table.concat(parts)
  local limit = tonumber(spec.max_payload) or DOOR_MAX_PAYLOAD
  if #payload > limit then
    refuse("the task's arguments encode to " .. #payload .. ' bytes, over the limit of ' ..
           limit .. '; pass a reference (a URL, a row id) instead of the data, or raise ' ..
           'max_payload on the TaskRunner')
  end
  return payload
end

-- The job a call asks for, checked whole before anything is written: its queue, settings,
-- flow fields and payload.
local function door_job(keys, argv)
  if (#keys ~= 1 and #keys ~= 2) or #argv ~= 1 then refuse(DOOR_CALL) end
  local prefix, q = string.match(keys[1], '^([A-Za-z0-9_.%-]+):{([^{}]+)}:prios$')
  if not prefix or #prefix > 64 or not valid_queue(q) then
    refuse('the key ' .. quoted(keys[1]) .. ' names no queue: ' .. DOOR_CALL)
  end
  begin(prefix)
  -- a second key, never written, holds the call back while the queue's slot moves (moving.py)
  if keys[2] and keys[2] ~= queue_key(q, 'absent') then
    refuse('the second key must be ' .. quoted(queue_key(q, 'absent')) .. ': ' .. DOOR_CALL)
  end
  local text = argv[1]
  local fields = document_fields(text, json_check(text))
  local format = fields.format
  if format and not ((format.kind == 'integer' or format.kind == 'number')
                     and json_value(text, format) == 1) then
    refuse('job document format ' .. shown_json(text, format) .. ': this version of ' ..
           'taskrunner reads format 1')
  end
  if not fields.task or fields.task.kind ~= 'string' then
    refuse("the job document's task must be a task's name (a string)")
  end
  local spec = task_spec(q, json_value(text, fields.task))
  local args, kwargs = fields.args, fields.kwargs
  if (args and args.kind ~= 'array') or (kwargs and kwargs.kind ~= 'object') then
    refuse('args must be a JSON list and kwargs a JSON object')
  end
  local now = now_us()
  local job = job_settings(text, typed_options(text, fields), spec, q, now)
  local bound = bind_arguments(text, spec.name, spec.parameters, args, kwargs)
  job.flow = door_flow(text, spec, job, bound)
  job.payload = door_payload(text, fields, job.meta, spec)
  job.task, job.now = spec.name, now
  return job
end

-- A UUIDv7 id, as taskrunner.backend.new_job_id makes them: the Redis clock's millisecond;
-- a counter that orders the ids this door made on the queue within it (P:{q}:idclock); and
-- 62 bits to tell them from ids made elsewhere in that millisecond (a hash of the queue,
-- the time, the counter and a random number).
local function door_job_id(q, now)
  local clock = queue_key(q, 'idclock')
  local last = redis.call('HMGET', clock, 'ms', 'n')
  local ms, n = math.floor(now / 1000), 0
  local last_ms = tonumber(last[1])
  if last_ms and ms <= last_ms then
    ms, n = last_ms, (tonumber(last[2]) or 0) + 1
    if n > 4095 then ms, n = ms + 1, 0 end
  end
  redis.call('HSET', clock, 'ms', ms, 'n', n)
  redis.call('EXPIRE', clock, 3600)
  local bits = redis.sha1hex(table.concat({P, q, string.format('%d:%d:%d', ms, n, now),
                                           tostring(math.random())}, '\0'))
  local stamp = string.format('%012x', ms)
  local variant = string.format('%x', 8 + tonumber(string.sub(bits, 1, 1), 16) % 4)
  return string.sub(stamp, 1, 8) .. '-' .. string.sub(stamp, 9, 12) .. '-7' ..
    string.format('%03x', n) .. '-' .. variant .. string.sub(bits, 2, 4) .. '-' ..
    string.sub(bits, 5, 16)
end

-- FCALL taskrunner_enqueue: the job's id, the id of the job holding its dedup key, or an
-- error reply saying what is wrong (nothing written).
local function door(keys, argv)
  local ok, job = pcall(door_job, keys, argv)
  if not ok then
    if type(job) == 'table' and job.door then
      return redis.error_reply('ERR ' .. string.gsub(job.door, '[\r\n]', ' '))
    end
    error(job, 0)
  end
  local header = {door_job_id(job.queue, job.now), job.task, tostring(job.priority),
                  job.max_attempts, job.key or false, micros(job.delay),
                  job.at and micros(job.at),
                  (job.window and math.ceil(job.window * 1000)) or false, job.flow, false}
  return enqueue_jobs(job.queue, {header}, {job.payload})[2]
end
