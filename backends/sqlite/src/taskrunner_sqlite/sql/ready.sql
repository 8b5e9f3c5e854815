-- the next due jobs of one queue, in claim order, with what the flow gate needs
SELECT seq, priority, run_at, queue, limit_key, limit_max, rate_key, rate_max, rate_per
FROM jobs
WHERE queue = ? AND state = 'queued' AND parked = 0
ORDER BY priority, run_at, seq
LIMIT ?
