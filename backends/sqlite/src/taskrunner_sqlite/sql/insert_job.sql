-- a new job, unless a record has its id (its caller then looks at that record)
INSERT INTO jobs (
    id, task, queue, payload, state, priority, max_attempts, enqueued_at, run_at, key,
    limit_key, limit_max, rate_key, rate_max, rate_per, batch_id, after, after_run_anyway,
    after_ttl
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING
