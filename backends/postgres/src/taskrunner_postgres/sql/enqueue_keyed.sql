-- Store a batch of jobs some of which carry a dedup key. A key is unique within its queue: a
-- job whose (queue, key) is held by a stored job (or by an earlier job of the batch) is not
-- stored, nor one whose id is (a repeated statement). Wakes the workers of the queues that
-- got jobs.
-- $1..$14 as in enqueue.sql, $15 keys (NULL: none), $16..$18 as $15..$17 in enqueue.sql.
-- Answers, per job in order, the id of the job holding its slot: its own id when stored,
-- the key holder's otherwise, NULL if the holder is not visible to this statement yet; and
-- whether that holder's retention has ended (a record past it holds no key: the caller
-- deletes it with drop_expired.sql and asks again).
WITH input AS (
    SELECT t.*,
           CASE WHEN t.at IS NULL THEN now() + make_interval(secs => t.delay)
                ELSE to_timestamp(t.at) END AS due
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::smallint[],
                $6::integer[], $7::float8[], $8::float8[], $9::text[], $10::integer[],
                $11::text[], $12::integer[], $13::float8[], $14::uuid[], $15::text[],
                $16::text[], $17::boolean[], $18::float8[])
         WITH ORDINALITY AS t(id, task, queue, payload, priority, max_attempts, delay, at,
                              limit_key, limit_max, rate_key, rate_max, rate_per, batch_id,
                              key, after, after_run_anyway, after_ttl, ord)
),
inserted AS (
    INSERT INTO {schema}.jobs (id, task, queue, state, priority, run_at, max_attempts, payload,
                               key, limit_key, limit_max, rate_key, rate_max, rate_per,
                               batch_id, after, after_run_anyway, after_ttl)
    SELECT id, task, queue, CASE WHEN due <= now() THEN 'queued' ELSE 'scheduled' END,
           priority, due, max_attempts, payload, key, limit_key, limit_max, rate_key,
           rate_max, rate_per, batch_id, after::uuid[], after_run_anyway, after_ttl
    FROM input
    ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING id, key, queue, state
),
woken AS (
    SELECT count(pg_notify('{queued_channel}', q.queue)) AS queues
    FROM (SELECT DISTINCT queue FROM inserted WHERE state IN ('queued', 'scheduled')) AS q
)
SELECT COALESCE(mine.id, own.id, batch.id, held.id)::text,
       COALESCE(mine.id IS NULL AND own.id IS NULL AND batch.id IS NULL
                AND held.expires_at <= now(), false)
FROM input AS i
CROSS JOIN woken
LEFT JOIN inserted AS mine ON mine.id = i.id
LEFT JOIN {schema}.jobs AS own ON mine.id IS NULL AND own.id = i.id
LEFT JOIN inserted AS batch ON mine.id IS NULL AND batch.queue = i.queue AND batch.key = i.key
LEFT JOIN {schema}.jobs AS held ON mine.id IS NULL AND held.queue = i.queue AND held.key = i.key
ORDER BY i.ord;
