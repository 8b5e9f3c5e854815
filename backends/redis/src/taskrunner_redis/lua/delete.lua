-- ARGV: prefix, queue, id... Deletes the finished jobs (succeeded, failed, cancelled) among
-- the ids, as purge deletes them. Returns 1 or 0 per id: 0 for a job not finished, unknown,
-- or whose retention had ended (deleted all the same, but it was gone).
local q = ARGV[2]
local now = now_us()
local done = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local job = redis.call('HMGET', job_key(q, id), 'state', 'expires_at')
  local ok = 0
  if job[1] and FINISHED[job[1]] then
    if not expired(job[2], now) then ok = 1 end
    delete_job(id, q)
    redis.call('ZREM', queue_key(q, 'done:' .. job[1]), id)
  end
  done[#done + 1] = ok
end
return done
