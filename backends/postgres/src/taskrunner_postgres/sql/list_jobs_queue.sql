-- Up to $1 jobs of the queue $9, newest first (by id): one branch per stored state, each
-- walking jobs_list_idx (queue, state, id) newest first, but for running jobs (few: their own index) and scheduled ones already due (few: read by
-- due time along jobs_scheduled_idx, then sorted). Only the branches of the stored states
-- $7 run; $8 the state shown (NULL: any; a due scheduled job shows as queued).
-- $1 how many at most, $2 the task (NULL: any), ids below $3 and from $4 on, enqueued from
-- $5 and before $6 (epoch seconds, NULL: unbounded).
SELECT *
FROM (
    (SELECT {record}
     FROM {schema}.jobs AS j
     WHERE j.state = 'waiting' AND 'waiting' = ANY($7::text[])
       AND j.queue = $9::text
       AND {list_where}
     ORDER BY j.id DESC
     LIMIT $1)
UNION ALL
    (SELECT {record}
     FROM {schema}.jobs AS j
     WHERE j.state = 'queued' AND 'queued' = ANY($7::text[])
       AND j.queue = $9::text
       AND {list_where}
     ORDER BY j.id DESC
     LIMIT $1)
UNION ALL
    (SELECT d.*
     FROM (SELECT {record}
           FROM {schema}.jobs AS j
           WHERE j.state = 'scheduled' AND 'scheduled' = ANY($7::text[])
             AND j.queue = $9::text
             AND ($8::text IS NULL OR $8::text = 'queued')
             AND j.run_at <= now()
             AND {list_where}
           ORDER BY j.run_at
           OFFSET 0) AS d
     ORDER BY d.id DESC
     LIMIT $1)
UNION ALL
    (SELECT {record}
     FROM {schema}.jobs AS j
     WHERE j.state = 'scheduled' AND 'scheduled' = ANY($7::text[])
       AND j.queue = $9::text
       AND ($8::text IS NULL OR $8::text = 'scheduled')
       AND (j.run_at > now()) IS TRUE
       AND {list_where}
     ORDER BY j.id DESC
     LIMIT $1)
UNION ALL
    (SELECT {record}
     FROM {schema}.jobs AS j
     WHERE j.state = 'running' AND 'running' = ANY($7::text[])
       AND j.queue = $9::text
       AND {list_where}
     ORDER BY j.id DESC
     LIMIT $1)
UNION ALL
    (SELECT {record}
     FROM {schema}.jobs AS j
     WHERE j.state = 'succeeded' AND 'succeeded' = ANY($7::text[])
       AND j.queue = $9::text
       AND {list_where}
     ORDER BY j.id DESC
     LIMIT $1)
UNION ALL
    (SELECT {record}
     FROM {schema}.jobs AS j
     WHERE j.state = 'failed' AND 'failed' = ANY($7::text[])
       AND j.queue = $9::text
       AND {list_where}
     ORDER BY j.id DESC
     LIMIT $1)
UNION ALL
    (SELECT {record}
     FROM {schema}.jobs AS j
     WHERE j.state = 'cancelled' AND 'cancelled' = ANY($7::text[])
       AND j.queue = $9::text
       AND {list_where}
     ORDER BY j.id DESC
     LIMIT $1)
) AS found
ORDER BY found.id DESC
LIMIT $1;
