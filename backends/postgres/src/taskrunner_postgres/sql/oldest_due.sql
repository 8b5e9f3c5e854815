-- When the longest-waiting due job of each of the queues $1 became due (epoch seconds;
-- NULL: none is due). Queued jobs are read from their partial index one priority at a
-- time (skipping from each priority to the next), and due scheduled jobs from theirs, so
-- the cost grows with the number of priorities in use, not of jobs. Jobs a claim set aside
-- for a limit or rate (migrations/0007_flow_limits.sql) are not counted: they wait for
-- their key, not for a worker.
SELECT q.name,
       date_part('epoch', least(queued.due, scheduled.due))
FROM unnest($1::text[]) AS q(name)
CROSS JOIN LATERAL (
    WITH RECURSIVE priorities(priority) AS (
        (SELECT j.priority
         FROM {schema}.jobs AS j
         WHERE j.state = 'queued' AND j.held IS NULL AND j.queue = q.name
         ORDER BY j.priority
         LIMIT 1)
        UNION ALL
        SELECT (SELECT j.priority
                FROM {schema}.jobs AS j
                WHERE j.state = 'queued' AND j.held IS NULL AND j.queue = q.name AND j.priority > p.priority
                ORDER BY j.priority
                LIMIT 1)
        FROM priorities AS p
        WHERE p.priority IS NOT NULL
    )
    SELECT min((SELECT j.run_at
                FROM {schema}.jobs AS j
                WHERE j.state = 'queued' AND j.held IS NULL AND j.queue = q.name AND j.priority = p.priority
                ORDER BY j.run_at
                LIMIT 1)) AS due
    FROM priorities AS p
    WHERE p.priority IS NOT NULL
) AS queued
CROSS JOIN LATERAL (
    SELECT min(j.run_at) AS due
    FROM {schema}.jobs AS j
    WHERE j.state = 'scheduled' AND j.queue = q.name AND j.run_at <= now()
) AS scheduled;
