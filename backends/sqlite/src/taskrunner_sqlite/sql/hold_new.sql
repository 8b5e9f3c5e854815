-- set the just-stored job ?1 of a limit key aside for its limit at once (migrations/0007): its key
-- has jobs set aside at its priority or better, or more than ?2 (its max + 99) queued jobs
-- ahead of it
UPDATE jobs SET parked = 1, held = 'limit'
WHERE id = ?1 AND state = 'queued' AND parked = 0 AND limit_key IS NOT NULL AND (
    EXISTS (
        SELECT 1 FROM jobs AS x
        WHERE x.parked = 1 AND x.held = 'limit' AND x.queue = jobs.queue
          AND x.limit_key = jobs.limit_key AND x.priority <= jobs.priority
    )
    OR (
        SELECT x.seq FROM jobs AS x
        WHERE x.state = 'queued' AND x.parked = 0 AND x.limit_key IS NOT NULL
          AND x.queue = jobs.queue AND x.limit_key = jobs.limit_key
          AND (x.priority, x.run_at, x.seq) < (jobs.priority, jobs.run_at, jobs.seq)
        ORDER BY x.priority, x.run_at, x.seq
        LIMIT 1 OFFSET ?2
    ) IS NOT NULL
)
