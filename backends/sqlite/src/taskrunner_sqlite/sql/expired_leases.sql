SELECT id, attempt, queue, worker, started_at, run_at, max_attempts, limit_key, limit_max
FROM jobs
WHERE state = 'running' AND lease_until <= ?
ORDER BY lease_until
LIMIT ?
