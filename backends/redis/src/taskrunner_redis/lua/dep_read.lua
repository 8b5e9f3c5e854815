-- ARGV: prefix, queue, id. What there is to judge of the job's dependents: {the state it
-- ended in or false, its ddirty mark or false, then pairs of a dependent and its queue}.
-- One script, so the end, the mark and the dependents are read at one instant.
local q, id = ARGV[2], ARGV[3]
local key = dependents_key(q, id)
local found = {redis.call('HGET', key, '@end'), redis.call('ZSCORE', queue_key(q, 'ddirty'), id)}
local flat = redis.call('HGETALL', key)
for i = 1, #flat, 2 do
  if flat[i] ~= '@end' then
    found[#found + 1] = flat[i]
    found[#found + 1] = flat[i + 1]
  end
end
return found
