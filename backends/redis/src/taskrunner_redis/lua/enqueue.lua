-- ARGV: prefix, queue, a JSON list with one entry per job (as store.lua's enqueue_jobs takes
-- them), then each job's payload. Answers as enqueue_jobs does.
local payloads = {}
for i = 4, #ARGV do payloads[#payloads + 1] = ARGV[i] end
return enqueue_jobs(ARGV[2], cjson.decode(ARGV[3]), payloads)
