id, task, queue, payload, state, priority, attempt, max_attempts, enqueued_at, run_at, key,
started_at, finished_at, lease_until, worker, result, error, progress, cancel_requested,
limit_key, limit_max, rate_key, rate_max, rate_per, held, batch_id, after, after_run_anyway
