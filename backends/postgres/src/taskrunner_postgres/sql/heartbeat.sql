-- Renew the leases of attempts that still own their job and store reported progress.
-- $1 ids, $2 attempts, $3 progress (NULL: none reported), $4 lease in seconds.
-- Answers, per beat in order, NULL (the attempt lost the job) or whether a cancel was asked.
WITH relaxed AS (
    -- a lost renewal only shortens the lease: no need to wait for the WAL flush
    SELECT set_config('synchronous_commit', 'off', true) AS synchronous_commit
),
beats AS (
    SELECT *
    FROM unnest($1::uuid[], $2::integer[], $3::bytea[])
         WITH ORDINALITY AS b(id, attempt, progress, ord)
),
renewed AS (
    UPDATE {schema}.jobs AS j
    SET lease_until = now() + make_interval(secs => $4),
        progress = COALESCE(b.progress, j.progress)
    FROM beats AS b
    WHERE j.id = b.id AND j.attempt = b.attempt AND j.state = 'running'
    RETURNING j.id, j.attempt, j.cancel_requested
)
SELECT r.cancel_requested
FROM beats AS b
CROSS JOIN relaxed
LEFT JOIN renewed AS r ON r.id = b.id AND r.attempt = b.attempt
ORDER BY b.ord;
