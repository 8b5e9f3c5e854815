-- Make the failed or cancelled jobs among $1 due now with one more attempt allowed, and
-- the scheduled ones not yet due, due now; a record past its retention counts as gone. The
-- attempt that had finished a job is logged on it first (unless it is already, or none
-- ran). Answers the ids of the jobs changed.
WITH targets AS (
    SELECT j.id, j.state, j.run_at
    FROM {schema}.jobs AS j
    WHERE j.id = ANY($1::uuid[]) AND {unexpired}
      AND (j.state IN ('failed', 'cancelled') OR (j.state = 'scheduled' AND j.run_at > now()))
    FOR UPDATE
),
retried AS (
    UPDATE {schema}.jobs AS j
    SET state = 'queued',
        run_at = now(),
        seq = nextval('{schema}.job_seq'),
        max_attempts = CASE WHEN t.state = 'scheduled' THEN j.max_attempts
                            ELSE greatest(j.max_attempts, j.attempt + 1) END,
        cancel_requested = CASE WHEN t.state = 'scheduled' THEN j.cancel_requested
                                ELSE false END,
        finished_at = NULL,
        expires_at = NULL,
        attempts = CASE
            WHEN t.state = 'scheduled' OR j.attempt = 0 OR j.started_at IS NULL
                 OR j.finished_at IS NULL
                 OR COALESCE(j.attempts @> jsonb_build_array(jsonb_build_object(
                        'attempt', j.attempt)), false)
            THEN j.attempts
            ELSE COALESCE(j.attempts, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
                'attempt', j.attempt,
                'worker', j.worker,
                'started_at', date_part('epoch', j.started_at),
                'ended_at', date_part('epoch', j.finished_at),
                'outcome', t.state,
                'error', CASE WHEN t.state = 'failed' THEN encode(j.error, 'base64') END))
            END
    FROM targets AS t
    WHERE j.id = t.id
    RETURNING j.id, j.queue
)
SELECT r.id::text, pg_notify('{queued_channel}', r.queue)
FROM retried AS r;
