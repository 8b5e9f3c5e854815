-- The attempts that finished the newest finished jobs of each of the queues $1, up to $2 per
-- queue, newest first: queue, ended_at (epoch seconds), runtime (seconds), outcome. Each
-- finished state's jobs are read newest first along jobs_list_idx and merged, so about $2
-- rows are read per queue. (Newest by id: recently enqueued jobs, which for a queue worked
-- in order are those that finished last.) A cancelled job counts only if its worker ended
-- it, and jobs that finished more than $3 minutes ago are left out.
SELECT a.queue,
       date_part('epoch', a.finished_at),
       date_part('epoch', a.finished_at - a.started_at),
       a.state
FROM unnest($1::text[]) AS q(name)
CROSS JOIN LATERAL (
    SELECT f.*
    FROM (
        (SELECT j.id, j.queue, j.state, j.started_at, j.finished_at, j.worker
         FROM {schema}.jobs AS j
         WHERE j.queue = q.name AND j.state = 'succeeded'
         ORDER BY j.id DESC
         LIMIT $2)
        UNION ALL
        (SELECT j.id, j.queue, j.state, j.started_at, j.finished_at, j.worker
         FROM {schema}.jobs AS j
         WHERE j.queue = q.name AND j.state = 'failed'
         ORDER BY j.id DESC
         LIMIT $2)
        UNION ALL
        (SELECT j.id, j.queue, j.state, j.started_at, j.finished_at, j.worker
         FROM {schema}.jobs AS j
         WHERE j.queue = q.name AND j.state = 'cancelled'
         ORDER BY j.id DESC
         LIMIT $2)
    ) AS f
    ORDER BY f.id DESC
    LIMIT $2
) AS a
WHERE a.started_at IS NOT NULL
  AND (a.state <> 'cancelled' OR a.worker IS NOT NULL)
  AND a.finished_at >= now() - make_interval(mins => $3::integer)
ORDER BY a.finished_at DESC;
