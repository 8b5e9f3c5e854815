-- Make the failed or cancelled jobs among $1 due now with one more attempt allowed, and
-- the scheduled ones not yet due, due now. Answers the ids of the jobs changed.
WITH retried AS (
    UPDATE {schema}.jobs AS j
    SET state = 'queued',
        run_at = now(),
        seq = nextval('{schema}.job_seq'),
        max_attempts = CASE WHEN j.state = 'scheduled' THEN j.max_attempts
                            ELSE greatest(j.max_attempts, j.attempt + 1) END,
        cancel_requested = CASE WHEN j.state = 'scheduled' THEN j.cancel_requested
                                ELSE false END,
        finished_at = NULL,
        expires_at = NULL
    WHERE j.id = ANY($1::uuid[])
      AND (j.state IN ('failed', 'cancelled') OR (j.state = 'scheduled' AND j.run_at > now()))
    RETURNING j.id, j.queue
)
SELECT r.id::text, pg_notify('{queued_channel}', r.queue)
FROM retried AS r;
