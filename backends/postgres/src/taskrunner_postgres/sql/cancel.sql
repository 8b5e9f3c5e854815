-- Cancel the queued and scheduled jobs among $1 (kept $2 seconds, NULL: until purged) and
-- flag the running ones for their worker. Answers each stored job's id and state after.
WITH targets AS (
    SELECT j.id, j.state
    FROM {schema}.jobs AS j
    WHERE j.id = ANY($1::uuid[]) AND j.state IN ('queued', 'scheduled', 'running')
    FOR UPDATE
),
changed AS (
    UPDATE {schema}.jobs AS j
    SET state = CASE WHEN t.state = 'running' THEN 'running' ELSE 'cancelled' END,
        cancel_requested = j.cancel_requested OR t.state = 'running',
        finished_at = CASE WHEN t.state = 'running' THEN j.finished_at ELSE now() END,
        expires_at = CASE WHEN t.state = 'running' THEN j.expires_at
                          ELSE now() + make_interval(secs => $2) END
    FROM targets AS t
    WHERE j.id = t.id
    RETURNING j.id, j.state
),
woken AS (
    SELECT count(pg_notify('{finished_channel}', c.id::text)) AS jobs
    FROM changed AS c
    WHERE c.state = 'cancelled'
)
SELECT j.id::text,
       COALESCE(c.state,
                CASE WHEN j.state = 'scheduled' AND j.run_at <= now() THEN 'queued'
                     ELSE j.state END)
FROM {schema}.jobs AS j
CROSS JOIN woken
LEFT JOIN changed AS c ON c.id = j.id
WHERE j.id = ANY($1::uuid[]);
