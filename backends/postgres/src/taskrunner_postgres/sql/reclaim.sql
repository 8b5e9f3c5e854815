-- Put back in their queue up to $1 running jobs whose lease expired (their worker stopped
-- heartbeating), skipping rows another statement holds. Answers their ids.
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
    SET state = 'queued', lease_until = NULL, worker = NULL, seq = nextval('{schema}.job_seq')
    FROM expired AS e
    WHERE j.id = e.id
    RETURNING j.id, j.queue
)
SELECT r.id::text, pg_notify('{queued_channel}', r.queue)
FROM requeued AS r;
