-- A strict JSON reader for the job document (door.lua): RFC 8259 as orjson, which decodes
-- payloads in the worker, reads it (valid UTF-8 without surrogates, no NaN or Infinity, no
-- leading zeros or trailing commas, no text after the value), nested at most JSON_DEPTH
-- levels (the most orjson writes). cjson is lax on several of these, so it only decodes
-- the escapes of strings this reader checked.
--
-- json_check(text) checks the whole text and answers its value as a node, or raises
-- {door = what is wrong}. A node is {kind = 'object', 'array', 'string', 'integer',
-- 'number', 'true', 'false' or 'null', first, last}: its span in the text, nothing more, so
-- a large document costs no memory beyond its text. json_children(text, node) goes through
-- the members of an array or object (key or index, node); json_value(text, node) is a
-- scalar's Lua value; json_compact(text, node) its JSON without the spaces between tokens.
local JSON_DEPTH = 254

local function refuse(message) error({door = message}) end

local function json_error(what, at)
  refuse('the job document is not valid JSON: ' .. what .. ' at byte ' .. at)
end

local function skip_space(text, at)
  return select(2, string.find(text, '^[ \t\r\n]*', at)) + 1
end

-- whether the bytes first..last are UTF-8 without surrogates or overlong forms
local function utf8_valid(text, first, last)
  local i = string.find(text, '[\128-\255]', first)
  while i and i <= last do
    local c, n = string.byte(text, i), nil
    if c >= 0xC2 and c <= 0xDF then n = 1
    elseif c >= 0xE0 and c <= 0xEF then n = 2
    elseif c >= 0xF0 and c <= 0xF4 then n = 3
    else return false end
    if i + n > last then return false end
    local c1 = string.byte(text, i + 1)
    if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 > 0x9F)
        or (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 > 0x8F) then
      return false
    end
    for k = 1, n do
      local b = string.byte(text, i + k)
      if b < 0x80 or b > 0xBF then return false end
    end
    i = string.find(text, '[\128-\255]', i + n + 1)
  end
  return true
end

local JSON_ESCAPES_READ = {['"'] = true, ['\\'] = true, ['/'] = true, b = true, f = true,
                           n = true, r = true, t = true}

-- a \u escape at `at` (its backslash); answers where the escape (with its pair) ends
local function unicode_escape(text, at)
  local hex = string.match(text, '^\\u(%x%x%x%x)', at)
  if not hex then json_error('a \\u escape without four hex digits', at) end
  local code = tonumber(hex, 16)
  if code >= 0xDC00 and code <= 0xDFFF then json_error('a lone low surrogate', at) end
  if code < 0xD800 or code > 0xDBFF then return at + 5 end
  local low = tonumber(string.match(text, '^\\u(%x%x%x%x)', at + 6) or '0', 16)
  if low < 0xDC00 or low > 0xDFFF then json_error('a high surrogate without its low one', at) end
  return at + 11
end

-- checks the string whose quote is at `at`; answers where it ends (its closing quote)
local function check_string(text, at)
  local i = at + 1
  while true do
    local j = string.find(text, '["\\%z\1-\31]', i)
    if not j then json_error('an unterminated string', at) end
    local c = string.sub(text, j, j)
    if c == '"' then i = j break end
    if c ~= '\\' then json_error('a control character in a string', j) end
    local e = string.sub(text, j + 1, j + 1)
    if e == 'u' then i = unicode_escape(text, j) + 1
    elseif JSON_ESCAPES_READ[e] then i = j + 2
    else json_error('an unknown escape', j) end
  end
  if not utf8_valid(text, at + 1, i - 1) then json_error('a string that is not UTF-8', at) end
  return i
end

-- checks the number at `at`; answers where it ends
local function check_number(text, at)
  local _, last = string.find(text, '^-?%d+', at)
  if not last then json_error('an unexpected character', at) end
  if string.find(text, '^-?0%d', at) then json_error('a number with a leading zero', at) end
  last = select(2, string.find(text, '^%.%d+', last + 1)) or last
  last = select(2, string.find(text, '^[eE][+-]?%d+', last + 1)) or last
  if string.find(text, '^[.eE]', last + 1) then json_error('a malformed number', at) end
  local value = tonumber(string.sub(text, at, last))
  if value == math.huge or value == -math.huge then json_error('a number out of range', at) end
  return last
end

local JSON_WORDS = {t = 'true', f = 'false', n = 'null'}

local check_value -- (text, at, depth): checks the value at `at`; answers where it ends

-- checks the array or object at `at` (`closer`: its closing bracket); answers where it ends
local function check_container(text, at, depth, closer)
  if depth > JSON_DEPTH then json_error('more than ' .. JSON_DEPTH .. ' nested levels', at) end
  local i = skip_space(text, at + 1)
  if string.sub(text, i, i) == closer then return i end
  while true do
    if i > #text then json_error('an unexpected end', i) end
    if closer == '}' then
      if string.sub(text, i, i) ~= '"' then json_error('an object key that is no string', i) end
      i = skip_space(text, check_string(text, i) + 1)
      if string.sub(text, i, i) ~= ':' then json_error('a missing colon', i) end
      i = skip_space(text, i + 1)
    end
    i = skip_space(text, check_value(text, i, depth + 1) + 1)
    local c = string.sub(text, i, i)
    if c == closer then return i end
    if c ~= ',' then json_error('a missing comma or ' .. closer, i) end
    i = skip_space(text, i + 1)
  end
end

check_value = function(text, at, depth)
  local c = string.sub(text, at, at)
  if c == '{' then return check_container(text, at, depth, '}') end
  if c == '[' then return check_container(text, at, depth, ']') end
  if c == '"' then return check_string(text, at) end
  local word = JSON_WORDS[c]
  if word then
    if string.sub(text, at, at + #word - 1) ~= word then json_error('an unknown word', at) end
    return at + #word - 1
  end
  if c == '' then json_error('an unexpected end', at) end
  return check_number(text, at)
end

-- where the checked string whose quote is at `at` ends (its closing quote)
local function string_end(text, at)
  local i = at + 1
  while true do
    local j = string.find(text, '["\\]', i)
    if string.sub(text, j, j) == '"' then return j end
    i = j + 2
  end
end

-- the node of the checked value at `at`
local function node_at(text, at)
  local c = string.sub(text, at, at)
  local last
  if c == '"' then
    return {kind = 'string', first = at, last = string_end(text, at)}
  elseif c == '{' or c == '[' then
    local depth, i = 0, at
    repeat
      i = string.find(text, '[][{}"]', i)
      local b = string.sub(text, i, i)
      if b == '"' then i = string_end(text, i)
      elseif b == '{' or b == '[' then depth = depth + 1
      else depth = depth - 1 end
      i = i + 1
    until depth == 0
    return {kind = (c == '{') and 'object' or 'array', first = at, last = i - 1}
  end
  last = select(2, string.find(text, '^[%w.+-]+', at))
  local token = string.sub(text, at, last)
  local kind = JSON_WORDS[c] or (string.find(token, '[.eE]') and 'number' or 'integer')
  return {kind = kind, first = at, last = last}
end

local function json_check(text)
  local at = skip_space(text, 1)
  local last = check_value(text, at, 1)
  if skip_space(text, last + 1) <= #text then json_error('text after the JSON value', last + 1) end
  return node_at(text, at)
end

local function json_value(text, node)
  local raw = string.sub(text, node.first, node.last)
  if node.kind == 'string' then
    if string.find(raw, '\\', 1, true) then return cjson.decode(raw) end
    return string.sub(raw, 2, -2)
  end
  if node.kind == 'integer' or node.kind == 'number' then return tonumber(raw) end
  if node.kind == 'true' then return true end
  return false -- false and null; callers tell them apart by kind
end

-- for key_or_index, node in json_children(text, container): its members in order
local function json_children(text, node)
  local i, index = skip_space(text, node.first + 1), 0
  return function()
    if i >= node.last then return nil end
    index = index + 1
    local key = index
    if node.kind == 'object' then
      local close = string_end(text, i)
      key = json_value(text, {kind = 'string', first = i, last = close})
      i = skip_space(text, skip_space(text, close + 1) + 1) -- past the colon
    end
    local child = node_at(text, i)
    i = skip_space(text, child.last + 1)
    if string.sub(text, i, i) == ',' then i = skip_space(text, i + 1) end
    return key, child
  end
end

local function json_compact(text, node)
  local out, i, last = {}, node.first, node.last
  while i <= last do
    local _, run = string.find(text, '^[^ \t\r\n"]+', i)
    if run then
      run = math.min(run, last)
      out[#out + 1] = string.sub(text, i, run)
      i = run + 1
    elseif string.sub(text, i, i) == '"' then
      local close = string_end(text, i)
      out[#out + 1] = string.sub(text, i, close)
      i = close + 1
    else
      i = i + 1
    end
  end
  return table.concat(out)
end
