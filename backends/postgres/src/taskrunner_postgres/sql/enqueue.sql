-- Store a batch of jobs that carry no dedup key and wake the workers of their queues (the
-- jobs are counted by a trigger: see migrations/0004_tally_triggers.sql).
-- A job whose id is already stored (a repeated statement) is left as it is.
-- $1 ids, $2 tasks, $3 queues, $4 payloads, $5 priorities, $6 max attempts,
-- $7 delays in seconds, $8 due times in epoch seconds (NULL: now + delay), and the flow
-- fields (migrations/0007_flow_limits.sql): $9 limit keys, $10 limit maxima, $11 rate keys,
-- $12 rate maxima, $13 rate periods in seconds; $14 batch ids (NULL: none; a member joins an
-- open batch only, else the statement fails: see migrations/0008_batches.sql); and the
-- dependencies (migrations/0009_dependencies.sql): $15 the ids each job waits for (a
-- Postgres array literal, NULL: none), $16 whether it runs whatever they end in, $17 how
-- long it is kept if they cancel it (seconds, NULL: until purged). A job with dependencies
-- is stored waiting (or cancelled) by a trigger: its queue is woken when it is queued.
WITH input AS (
    SELECT t.*,
           CASE WHEN t.at IS NULL THEN now() + make_interval(secs => t.delay)
                ELSE to_timestamp(t.at) END AS due
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::smallint[],
                $6::integer[], $7::float8[], $8::float8[], $9::text[], $10::integer[],
                $11::text[], $12::integer[], $13::float8[], $14::uuid[], $15::text[],
                $16::boolean[], $17::float8[])
         WITH ORDINALITY AS t(id, task, queue, payload, priority, max_attempts, delay, at,
                              limit_key, limit_max, rate_key, rate_max, rate_per, batch_id,
                              after, after_run_anyway, after_ttl, ord)
),
inserted AS (
    INSERT INTO {schema}.jobs (id, task, queue, state, priority, run_at, max_attempts, payload,
                               limit_key, limit_max, rate_key, rate_max, rate_per, batch_id,
                               after, after_run_anyway, after_ttl)
    SELECT id, task, queue, CASE WHEN due <= now() THEN 'queued' ELSE 'scheduled' END,
           priority, due, max_attempts, payload, limit_key, limit_max, rate_key, rate_max,
           rate_per, batch_id, after::uuid[], after_run_anyway, after_ttl
    FROM input
    ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING queue, state
)
SELECT pg_notify('{queued_channel}', q.queue)
FROM (SELECT DISTINCT queue FROM inserted WHERE state IN ('queued', 'scheduled')) AS q;
