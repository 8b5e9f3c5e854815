-- Store one job that carries no dedup key and wake the workers of its queue: enqueue.sql
-- for a lone job, its columns as scalars ($1..$17 as there, one value each), without the
-- unnest, the ordering and the DISTINCT a batch needs (the server's work for one enqueue:
-- see docs/benchmarks.md, "Where a Postgres enqueue's time goes").
WITH inserted AS (
    INSERT INTO {schema}.jobs (id, task, queue, state, priority, run_at, max_attempts, payload,
                               limit_key, limit_max, rate_key, rate_max, rate_per, batch_id,
                               after, after_run_anyway, after_ttl)
    SELECT $1::uuid, $2::text, $3::text,
           CASE WHEN d.due <= now() THEN 'queued' ELSE 'scheduled' END,
           $5::smallint, d.due, $6::integer, $4::bytea, $9::text, $10::integer, $11::text,
           $12::integer, $13::float8, $14::uuid, $15::text::uuid[], $16::boolean, $17::float8
    FROM (SELECT CASE WHEN $8::float8 IS NULL THEN now() + make_interval(secs => $7::float8)
                      ELSE to_timestamp($8::float8) END AS due) AS d
    ON CONFLICT DO NOTHING
    RETURNING queue, state
)
SELECT pg_notify('{queued_channel}', i.queue)
FROM inserted AS i
WHERE i.state IN ('queued', 'scheduled');
