-- Of the jobs among $1 in the states $3 (a batch's cancel leaves running members alone),
-- cancel the waiting, queued and scheduled ones (kept $2 seconds, NULL: until purged; the
-- jobs waiting on them are judged by the trigger of migrations/0009_dependencies.sql) and
-- flag the running ones for their worker (notified at once on the cancel channel; its
-- heartbeat reads the flag). Answers each stored job's id and state after (not for records
-- past their retention: they count as gone). A cancelled job with a limit key may have been
-- given a free slot by a release (migrations/0007_flow_limits.sql): the slots of its key
-- are handed on to the held jobs left (release_limits).
WITH targets AS (
    SELECT j.id, j.state
    FROM {schema}.jobs AS j
    WHERE j.id = ANY($1::uuid[]) AND j.state = ANY($3::text[])
    ORDER BY j.id  -- in id order, as an enqueue share-locks its dependencies: no deadlock
    FOR UPDATE
),
changed AS (
    UPDATE {schema}.jobs AS j
    SET state = CASE WHEN t.state = 'running' THEN 'running' ELSE 'cancelled' END,
        cancel_requested = j.cancel_requested OR t.state = 'running',
        finished_at = CASE WHEN t.state = 'running' THEN j.finished_at ELSE now() END,
        expires_at = CASE WHEN t.state = 'running' THEN j.expires_at
                          ELSE now() + make_interval(secs => $2) END,
        held = NULL
    FROM targets AS t
    WHERE j.id = t.id
    RETURNING j.id, j.state, j.queue, j.limit_key
),
freed AS (
    SELECT CASE WHEN bool_or(c.limit_key IS NOT NULL)
                THEN {schema}.release_limits(array_agg(c.queue), array_agg(c.limit_key),
                                             '{}') END AS jobs
    FROM changed AS c
    WHERE c.state = 'cancelled'
),
woken AS (
    -- those waiting for a cancelled job, and the workers of a running one
    SELECT count(pg_notify(CASE WHEN c.state = 'cancelled' THEN '{finished_channel}'
                                ELSE '{cancel_channel}' END,
                           c.id::text)) AS jobs
    FROM changed AS c
)
SELECT j.id::text,
       COALESCE(c.state,
                CASE WHEN j.state = 'scheduled' AND j.run_at <= now() THEN 'queued'
                     ELSE j.state END)
FROM {schema}.jobs AS j
CROSS JOIN woken
CROSS JOIN freed
LEFT JOIN changed AS c ON c.id = j.id
WHERE j.id = ANY($1::uuid[]) AND {unexpired};
