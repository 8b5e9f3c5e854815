-- ARGV: prefix, queue, then pairs of batch and dirty mark. Takes each batch's mark off the
-- queue's bdirty set if it is still the one given: a member that ended since marked it anew,
-- and that change is still to settle.
local q = ARGV[2]
local key = queue_key(q, 'bdirty')
for i = 3, #ARGV, 2 do
  if redis.call('ZSCORE', key, ARGV[i]) == ARGV[i + 1] then redis.call('ZREM', key, ARGV[i]) end
end
return 1
