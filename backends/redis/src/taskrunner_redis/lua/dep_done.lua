-- ARGV: prefix, queue, id, mark ('' for none), dependent... The job's dependents given were
-- judged: take them off its dependents hash, and take its end and ddirty mark off too if
-- the mark is still the one read (the judging read them together, dep_read.lua), so it is
-- all done. Safe to repeat.
local q, id, mark = ARGV[2], ARGV[3], ARGV[4]
local key = dependents_key(q, id)
local judged = {}
for i = 5, #ARGV do judged[#judged + 1] = ARGV[i] end
chunked('HDEL', key, judged, 1000)
local dirty = queue_key(q, 'ddirty')
if (redis.call('ZSCORE', dirty, id) or '') == mark then
  redis.call('ZREM', dirty, id)
  redis.call('HDEL', key, '@end')
end
return 1
