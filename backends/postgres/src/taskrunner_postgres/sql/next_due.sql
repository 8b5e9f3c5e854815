-- Seconds until the earliest job of the queues $1 is due (0 or less: one is due now), or
-- NULL when none is waiting. Each branch reads one entry of a partial index. Held jobs
-- (migrations/0007_flow_limits.sql) count when their rate window opens; those held for a
-- limit wake nobody: the release that brings them back notifies. Paused queues count as
-- holding none.
SELECT date_part('epoch', min(d.due) - now())
FROM unnest($1::text[]) AS q(name)
CROSS JOIN LATERAL (
    (SELECT now() AS due
     FROM {schema}.jobs AS j
     WHERE j.state = 'queued' AND j.held IS NULL AND j.queue = q.name
     ORDER BY j.priority, j.run_at, j.seq
     LIMIT 1)
    UNION ALL
    (SELECT j.run_at
     FROM {schema}.jobs AS j
     WHERE j.state = 'scheduled' AND j.queue = q.name
     ORDER BY j.run_at
     LIMIT 1)
    UNION ALL
    (SELECT w.opens_at
     FROM {schema}.rate_windows AS w
     WHERE w.opens_at IS NOT NULL AND w.queue = q.name
     ORDER BY w.opens_at
     LIMIT 1)
) AS d
WHERE NOT EXISTS (SELECT 1 FROM {schema}.paused_queues AS p WHERE p.queue = q.name);
