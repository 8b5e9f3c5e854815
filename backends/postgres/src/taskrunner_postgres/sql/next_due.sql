-- Seconds until the earliest job of the queues $1 is due (0 or less: one is due now), or
-- NULL when none is waiting. Both branches read one entry of a partial index. Paused queues
-- count as holding none.
SELECT date_part('epoch', min(d.due) - now())
FROM unnest($1::text[]) AS q(name)
CROSS JOIN LATERAL (
    (SELECT now() AS due
     FROM {schema}.jobs AS j
     WHERE j.state = 'queued' AND j.queue = q.name
     ORDER BY j.priority, j.run_at, j.seq
     LIMIT 1)
    UNION ALL
    (SELECT j.run_at
     FROM {schema}.jobs AS j
     WHERE j.state = 'scheduled' AND j.queue = q.name
     ORDER BY j.run_at
     LIMIT 1)
) AS d
WHERE NOT EXISTS (SELECT 1 FROM {schema}.paused_queues AS p WHERE p.queue = q.name);
