-- Store a batch of jobs that each open a dedup window. While the window of a (queue, key)
-- is open, a job with that key is not stored and answers the id of the job that opened it,
-- whatever became of that job; a closed window is taken over by the first job of the batch
-- with its key. The upsert locks the window's row, so of racing statements exactly one
-- opens it, and the others read its opener. Windowed jobs keep no key on their row. Wakes
-- the workers of the queues that got jobs.
-- $1..$14 as in enqueue.sql, $15 keys, $16 window lengths in seconds, $17..$19 as $15..$17
-- in enqueue.sql.
-- Answers, per job in order, the id of the job holding its window (its own when stored).
WITH input AS (
    SELECT t.*,
           CASE WHEN t.at IS NULL THEN now() + make_interval(secs => t.delay)
                ELSE to_timestamp(t.at) END AS due
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::smallint[],
                $6::integer[], $7::float8[], $8::float8[], $9::text[], $10::integer[],
                $11::text[], $12::integer[], $13::float8[], $14::uuid[], $15::text[],
                $16::float8[], $17::text[], $18::boolean[], $19::float8[])
         WITH ORDINALITY AS t(id, task, queue, payload, priority, max_attempts, delay, at,
                              limit_key, limit_max, rate_key, rate_max, rate_per, batch_id,
                              key, key_ttl, after, after_run_anyway, after_ttl, ord)
),
firsts AS (
    SELECT DISTINCT ON (queue, key) id, queue, key, key_ttl
    FROM input
    ORDER BY queue, key, ord
),
windows AS (
    INSERT INTO {schema}.dedup_windows AS w (queue, key, job_id, until)
    SELECT queue, key, id, now() + make_interval(secs => key_ttl)
    FROM firsts
    ORDER BY queue, key
    ON CONFLICT (queue, key) DO UPDATE
        SET job_id = CASE WHEN w.until <= now() THEN excluded.job_id ELSE w.job_id END,
            until = CASE WHEN w.until <= now() THEN excluded.until ELSE w.until END
    RETURNING w.queue, w.key, w.job_id
),
inserted AS (
    INSERT INTO {schema}.jobs (id, task, queue, state, priority, run_at, max_attempts, payload,
                               limit_key, limit_max, rate_key, rate_max, rate_per, batch_id,
                               after, after_run_anyway, after_ttl)
    SELECT i.id, i.task, i.queue, CASE WHEN i.due <= now() THEN 'queued' ELSE 'scheduled' END,
           i.priority, i.due, i.max_attempts, i.payload, i.limit_key, i.limit_max, i.rate_key,
           i.rate_max, i.rate_per, i.batch_id, i.after::uuid[], i.after_run_anyway, i.after_ttl
    FROM input AS i
    JOIN windows AS w ON w.job_id = i.id
    ORDER BY i.ord
    ON CONFLICT DO NOTHING
    RETURNING queue, state
),
woken AS (
    SELECT count(pg_notify('{queued_channel}', q.queue)) AS queues
    FROM (SELECT DISTINCT queue FROM inserted WHERE state IN ('queued', 'scheduled')) AS q
)
SELECT w.job_id::text
FROM input AS i
CROSS JOIN woken
JOIN windows AS w ON w.queue = i.queue AND w.key = i.key
ORDER BY i.ord;
