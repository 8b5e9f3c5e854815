SELECT queue, worker, started_at, max_attempts, limit_key, limit_max, run_at
FROM jobs WHERE id = ? AND attempt = ? AND state = 'running'
