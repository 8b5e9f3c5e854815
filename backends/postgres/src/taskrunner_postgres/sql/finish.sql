-- Apply the outcomes of attempts that still own their job (the attempt is the fencing
-- token). $1 ids, $2 attempts, $3 kinds (succeeded, failed, cancelled, retry, released),
-- $4 results, $5 errors, $6 delays in seconds (a retry's; a release's, if any), $7 retention in seconds (NULL: until
-- purged). An attempt after which the job runs again is logged on the job (the one that
-- finishes it is told by the job's own columns), which also tells the trigger that counts
-- it its outcome (see migrations/0004_tally_triggers.sql).
-- Wakes waiters of finished jobs and workers of queues that got a job back. An attempt of a
-- job with a limit key frees its slot: held jobs of that key come back to the claim
-- (release_limits, migrations/0007_flow_limits.sql, which wakes their queues' workers).
-- Answers the positions (from 1) of the outcomes applied.
WITH outcomes AS (
    SELECT o.*, o.kind IN ('succeeded', 'failed', 'cancelled') AS ends
    FROM unnest($1::uuid[], $2::integer[], $3::text[], $4::bytea[], $5::bytea[],
                $6::float8[], $7::float8[])
         WITH ORDINALITY AS o(id, attempt, kind, result, error, delay, ttl, ord)
),
applied AS (
    UPDATE {schema}.jobs AS j
    SET state = CASE WHEN o.ends THEN o.kind
                     WHEN o.kind IN ('retry', 'released') AND o.delay > 0 THEN 'scheduled'
                     ELSE 'queued' END,
        result = CASE WHEN o.kind = 'succeeded' THEN o.result ELSE j.result END,
        error = CASE WHEN o.kind IN ('failed', 'retry') THEN o.error
                     WHEN o.kind = 'cancelled' THEN COALESCE(o.error, j.error)
                     ELSE j.error END,
        run_at = CASE WHEN o.kind = 'retry' OR (o.kind = 'released' AND o.delay > 0)
                      THEN now() + make_interval(secs => o.delay)
                      ELSE j.run_at END,
        max_attempts = j.max_attempts + (o.kind = 'released')::integer,
        finished_at = CASE WHEN o.ends THEN now() END,
        expires_at = CASE WHEN o.ends THEN now() + make_interval(secs => o.ttl) END,
        worker = CASE WHEN o.ends THEN j.worker END,
        seq = CASE WHEN o.ends THEN j.seq ELSE nextval('{schema}.job_seq') END,
        lease_until = NULL,
        attempts = CASE WHEN o.ends THEN j.attempts
                        ELSE COALESCE(j.attempts, '[]'::jsonb) || jsonb_build_array(
                            jsonb_build_object(
                                'attempt', j.attempt,
                                'worker', j.worker,
                                'started_at', date_part('epoch', j.started_at),
                                'ended_at', date_part('epoch', now()),
                                'outcome', o.kind,
                                'error', encode(o.error, 'base64'))) END
    FROM outcomes AS o
    WHERE j.id = o.id AND j.attempt = o.attempt AND j.state = 'running'
    RETURNING o.ord, o.ends, j.id, j.queue, j.limit_key
),
settled AS (
    -- a lost outcome only means the attempt runs again: no need to wait for the WAL flush
    -- (read at commit). The slots of the attempts that ended free: one call, once every
    -- outcome is applied (the aggregate reads them all first).
    SELECT set_config('synchronous_commit', 'off', true) AS synchronous_commit,
           CASE WHEN bool_or(a.limit_key IS NOT NULL)
                THEN {schema}.release_limits(array_agg(a.queue), array_agg(a.limit_key),
                                             array_agg(a.id)) END AS released
    FROM applied AS a
)
SELECT a.ord,
       pg_notify(CASE WHEN a.ends THEN '{finished_channel}' ELSE '{queued_channel}' END,
                 CASE WHEN a.ends THEN a.id::text ELSE a.queue END)
FROM applied AS a
CROSS JOIN settled;
