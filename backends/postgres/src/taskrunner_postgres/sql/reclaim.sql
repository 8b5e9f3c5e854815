-- Put back in their queue up to $1 running jobs whose lease expired (their worker stopped
-- heartbeating), skipping rows another statement holds; their attempts are logged as lost.
-- Each goes back to its place in claim order (its priority, due time and enqueue order).
-- Their limit slots free: held jobs of those keys come back to the claim (release_limits,
-- migrations/0007_flow_limits.sql). Answers their ids.
WITH expired AS (
    SELECT j.id
    FROM {schema}.jobs AS j
    WHERE j.state = 'running' AND j.lease_until <= now()
    ORDER BY j.lease_until
    LIMIT $1
    FOR UPDATE SKIP LOCKED
),
requeued AS (
    UPDATE {schema}.jobs AS j
    SET state = 'queued', lease_until = NULL, worker = NULL,
        attempts = COALESCE(j.attempts, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
            'attempt', j.attempt,
            'worker', j.worker,
            'started_at', date_part('epoch', j.started_at),
            'ended_at', date_part('epoch', now()),
            'outcome', 'lost',
            'error', NULL))
    FROM expired AS e
    WHERE j.id = e.id
    RETURNING j.id, j.queue, j.limit_key
),
freed AS (
    SELECT CASE WHEN bool_or(r.limit_key IS NOT NULL)
                THEN {schema}.release_limits(array_agg(r.queue), array_agg(r.limit_key),
                                             array_agg(r.id)) END AS jobs
    FROM requeued AS r
)
SELECT r.id::text, pg_notify('{queued_channel}', r.queue)
FROM requeued AS r
CROSS JOIN freed;
