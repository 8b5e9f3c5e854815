-- Take up to $2 due jobs from the queues $1 for worker $3, with a lease of $4 seconds:
-- lowest priority number first, then earliest due, then first enqueued. Each queue's best
-- candidates come from its partial indexes (queued jobs, and scheduled jobs now due), rows
-- other workers are taking are skipped, and the best $2 of all candidates are claimed.
-- A claim changes no tallies (see migrations/0002_inspection.sql). Paused queues are left
-- out first (migrations/0005_pause.sql), so each remaining queue still reads its indexes.
WITH open_queues AS (
    SELECT q.name
    FROM unnest($1::text[]) AS q(name)
    WHERE NOT EXISTS (SELECT 1 FROM {schema}.paused_queues AS p WHERE p.queue = q.name)
),
candidates AS (
    SELECT c.id, c.priority, c.run_at, c.seq
    FROM open_queues AS q
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at, j.seq
        FROM {schema}.jobs AS j
        WHERE j.state = 'queued' AND j.queue = q.name
        ORDER BY j.priority, j.run_at, j.seq
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ) AS c
    UNION ALL
    SELECT c.id, c.priority, c.run_at, c.seq
    FROM open_queues AS q
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at, j.seq
        FROM {schema}.jobs AS j
        WHERE j.state = 'scheduled' AND j.queue = q.name AND j.run_at <= now()
        ORDER BY j.run_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ) AS c
),
picked AS (
    SELECT id FROM candidates ORDER BY priority, run_at, seq LIMIT $2
),
claimed AS (
    UPDATE {schema}.jobs AS j
    SET state = 'running',
        attempt = j.attempt + 1,
        started_at = now(),
        lease_until = now() + make_interval(secs => $4),
        worker = $3,
        cancel_requested = false
    FROM picked
    WHERE j.id = picked.id
    RETURNING {record}, j.seq
)
SELECT * FROM claimed ORDER BY priority, run_at, seq;
