SELECT state, run_at, queue, limit_key, limit_max, attempt, max_attempts, expires_at
FROM jobs WHERE id = ?
