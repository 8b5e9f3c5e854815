-- The job document's arguments, checked against the task's spec (taskrunner.registry) as
-- Python's Signature.bind checks a call (taskrunner.arguments), and the limit and rate keys
-- worked out from them as taskrunner.limits does, for templates of plain {name} fields.
-- Shared by door.lua; `refuse` and the json_* readers are json.lua's.

-- the members of an array or object node, or none for an absent one (nil)
local function members(text, node)
  if node then return json_children(text, node) end
  return function() return nil end
end

-- a text shown in a message: quoted, clipped, without control characters
local function quoted(text)
  if #text > 80 then text = string.sub(text, 1, 77) .. '...' end
  return "'" .. string.gsub(text, '[%z\1-\31\127]', '?') .. "'"
end

local POSITIONAL = {positional_only = true, positional_or_keyword = true}
local NAMED = {positional_or_keyword = true, keyword_only = true}

-- the parameters as a signature reads, e.g. "(customer_id, /, full=..., *, reason)"
local function signature_text(params)
  local parts, star = {}, false
  for i, p in ipairs(params) do
    local name, kind, has_default = p[1], p[2], p[3]
    if kind == 'var_positional' then
      name, star = '*' .. name, true
    elseif kind == 'var_keyword' then
      name = '**' .. name
    elseif kind == 'keyword_only' and not star then
      parts[#parts + 1], star = '*', true
    end
    if has_default then name = name .. '=...' end
    parts[#parts + 1] = name
    local nxt = params[i + 1]
    if kind == 'positional_only' and not (nxt and nxt[2] == 'positional_only') then
      parts[#parts + 1] = '/'
    end
  end
  return '(' .. table.concat(parts, ', ') .. ')'
end

-- The arguments a call binds, by name (node; a *args parameter's is {kind = 'tuple'}),
-- as the key templates read them; refuses a call the parameters do not take. `params` is
-- the spec's (false: any call is taken, and only keyword arguments have names).
local function bind_arguments(text, task, params, args, kwargs)
  local bound = {}
  local function refuse_call(why)
    refuse('task ' .. quoted(task) .. ' cannot take these arguments: ' .. why ..
           ' (it takes ' .. signature_text(params) .. ')')
  end
  local by_name, positional, var_positional, var_keyword = {}, {}, nil, nil
  for _, p in ipairs(params or {}) do
    by_name[p[1]] = p
    if POSITIONAL[p[2]] then positional[#positional + 1] = p[1] end
    if p[2] == 'var_positional' then var_positional = p[1] end
    if p[2] == 'var_keyword' then var_keyword = p[1] end
  end
  for index, node in members(text, args) do
    if positional[index] then
      bound[positional[index]] = node
    elseif params and not var_positional then
      refuse_call('too many positional arguments')
    elseif var_positional then
      bound[var_positional] = {kind = 'tuple'}
    end
  end
  for name, node in members(text, kwargs) do
    local p = by_name[name]
    if p and NAMED[p[2]] then
      if bound[name] then refuse_call('multiple values for argument ' .. quoted(name)) end
    elseif params and not var_keyword then
      if p and p[2] == 'positional_only' then
        refuse_call(quoted(name) .. ' parameter is positional only, but was passed as a keyword')
      end
      refuse_call('got an unexpected keyword argument ' .. quoted(name))
    end
    bound[name] = node
  end
  for _, p in ipairs(params or {}) do
    if (POSITIONAL[p[2]] or NAMED[p[2]]) and not p[3] and not bound[p[1]] then
      refuse_call('missing a required argument: ' .. quoted(p[1]))
    end
  end
  return bound
end

-- A limit or rate key as taskrunner.backend checks it (taskrunner._validation.flow_key).
local function checked_flow_key(key, what)
  if key == '' then refuse(what .. " key must be a non-empty string, got ''") end
  local length = #key - select(2, string.gsub(key, '[\128-\191]', ''))
  if length > 256 then
    refuse(what .. ' key ' .. quoted(key) .. ' is ' .. length ..
           ' characters; at most 256 are allowed')
  end
  if string.find(key, '[%z\1-\31\127]') then
    refuse(what .. ' key ' .. quoted(key) .. ' contains control characters')
  end
  return key
end

-- The text a template field takes from an argument's node, as Python's format() writes it:
-- strings, integers (within 64 bits), true, false and null; nil for the others.
local function field_text(text, node)
  local kind = node.kind
  if kind == 'string' then return json_value(text, node) end
  if kind == 'true' then return 'True' end
  if kind == 'false' then return 'False' end
  if kind == 'null' then return 'None' end
  if kind == 'integer' then
    local digits = string.sub(text, node.first, node.last)
    if digits == '-0' then return '0' end
    if #string.gsub(digits, '-', '') <= 18 then return digits end
  end
  return nil
end

-- The key of a Limit or Rate (its spec: {key = template or null, computed = bool}) for a
-- call binding `bound`; `what` is 'limit' or 'rate'.
local function flow_key_of(text, task, spec, what, bound)
  local template = spec.key
  if spec.computed then
    refuse("this task's key is computed by Python code in its workers: pass the key " ..
           'itself (limit_key or rate_key) to enqueue it from here')
  end
  if type(template) ~= 'string' then return checked_flow_key(task, what) end
  local function cannot(why)
    refuse('task ' .. quoted(task) .. ': its ' .. what .. ' key template ' .. quoted(template) ..
           ' ' .. why .. ': pass ' .. what .. '_key')
  end
  local out, i = {}, 1
  while i <= #template do
    local two = string.sub(template, i, i + 1)
    if two == '{{' or two == '}}' then
      out[#out + 1], i = string.sub(two, 1, 1), i + 2
    elseif string.sub(two, 1, 1) == '{' then
      local close = string.find(template, '}', i, true) or #template
      local name = string.sub(template, i + 1, close - 1)
      if not string.find(name, '^[A-Za-z_][A-Za-z0-9_]*$') then
        cannot('has a field other than a plain {name}, which only Python fills')
      end
      local node = bound[name]
      if not node then cannot('names ' .. quoted(name) .. ', which this call does not give') end
      out[#out + 1] = field_text(text, node) or
        cannot('reads ' .. quoted(name) .. ', which is no string, integer, true, false or null')
      i = close + 1
    elseif string.sub(two, 1, 1) == '}' then
      cannot('is malformed')
    else
      local _, run = string.find(template, '^[^{}]+', i)
      out[#out + 1], i = string.sub(template, i, run), run + 1
    end
  end
  return checked_flow_key(table.concat(out), what)
end
