-- ARGV: prefix, queue, then triples of a job of the queue, a job that is to wait on it and
-- that job's queue. Registers each waiter in the job's dependents hash, unless the job has
-- ended. Answers per triple: 'missing' (no such job, or its retention ended), the state the
-- job ended in, 'waiting' (registered: its end will be judged), or 'busy': the job ended
-- before, was retried by hand, and the judging of that first end is not done yet, so the
-- caller judges it first and asks again (a waiter registered now must wait for the next end,
-- not be judged by that one).
local q = ARGV[2]
local now = now_us()
local answers = {}
for i = 3, #ARGV, 3 do
  local id = ARGV[i]
  local job = redis.call('HMGET', job_key(q, id), 'state', 'expires_at')
  local answer = 'waiting'
  if not job[1] or expired(job[2], now) then
    answer = 'missing'
  elseif FINISHED[job[1]] then
    answer = job[1]
  elseif redis.call('HEXISTS', dependents_key(q, id), '@end') == 1 then
    answer = 'busy'
  else
    redis.call('HSET', dependents_key(q, id), ARGV[i + 1], ARGV[i + 2])
  end
  answers[#answers + 1] = answer
end
return answers
