-- How many jobs each queue holds in each state ($1: only these queues; NULL: every queue
-- that holds a job): waiting, queued, scheduled, running, succeeded, failed, cancelled (the
-- order of JobState). Read from the tallies (see migrations/0002_inspection.sql), with the
-- running jobs counted from their partial index and the scheduled ones due later this
-- minute from theirs: no count grows with the number of queued or finished jobs. Finished
-- jobs past their retention are not counted: those reclaim has not deleted yet are read
-- along jobs_expiring_idx (a few when workers run; all of them when none has run since
-- they expired).
WITH clock AS (
    SELECT floor(date_part('epoch', now()) / 60)::bigint AS minute
),
totals AS (
    SELECT t.queue,
           sum(t.waiting)::bigint AS waiting,
           sum(t.unfinished)::bigint AS unfinished,
           sum(t.scheduled) FILTER (WHERE t.minute > clock.minute)::bigint AS scheduled_later,
           sum(t.succeeded)::bigint AS succeeded,
           sum(t.failed)::bigint AS failed,
           sum(t.cancelled)::bigint AS cancelled
    FROM {schema}.tallies AS t, clock
    WHERE $1::text[] IS NULL OR t.queue = ANY($1::text[])
    GROUP BY t.queue
),
running AS (
    SELECT j.queue, count(*) AS jobs
    FROM {schema}.jobs AS j
    WHERE j.state = 'running'
    GROUP BY j.queue
),
expired AS (
    SELECT j.queue,
           count(*) FILTER (WHERE j.state = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE j.state = 'failed') AS failed,
           count(*) FILTER (WHERE j.state = 'cancelled') AS cancelled
    FROM {schema}.jobs AS j
    WHERE j.expires_at <= now() AND ($1::text[] IS NULL OR j.queue = ANY($1::text[]))
    GROUP BY j.queue
),
waiting AS (
    SELECT c.queue, COALESCE(c.scheduled_later, 0) + soon.jobs AS scheduled
    FROM totals AS c, clock
    CROSS JOIN LATERAL (
        SELECT count(*) AS jobs
        FROM {schema}.jobs AS j
        WHERE j.state = 'scheduled' AND j.queue = c.queue AND j.run_at > now()
          AND j.run_at < to_timestamp((clock.minute + 1) * 60)
    ) AS soon
)
SELECT c.queue,
       c.waiting,
       c.unfinished - w.scheduled - COALESCE(r.jobs, 0),
       w.scheduled,
       COALESCE(r.jobs, 0),
       c.succeeded - COALESCE(e.succeeded, 0),
       c.failed - COALESCE(e.failed, 0),
       c.cancelled - COALESCE(e.cancelled, 0)
FROM totals AS c
JOIN waiting AS w ON w.queue = c.queue
LEFT JOIN running AS r ON r.queue = c.queue
LEFT JOIN expired AS e ON e.queue = c.queue
WHERE $1::text[] IS NOT NULL
   OR (c.waiting, c.unfinished, c.succeeded, c.failed, c.cancelled) <> (0, 0, 0, 0, 0);
