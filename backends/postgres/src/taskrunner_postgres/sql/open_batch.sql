-- Store the open batch $1 without members, with its callback jobs: $2 'success' or
-- 'complete' for each, then their columns as enqueue_window.sql takes them ($3..$18; their
-- batch ids are not kept: a callback joins no batch). A batch already stored is left as it
-- is (a repeated statement). See migrations/0008_batches.sql.
WITH batch AS (
    INSERT INTO {schema}.batches (id, on_success, on_complete)
    SELECT $1::uuid,
           (SELECT c.id FROM unnest($2::text[], $3::uuid[]) AS c(kind, id)
            WHERE c.kind = 'success'),
           (SELECT c.id FROM unnest($2::text[], $3::uuid[]) AS c(kind, id)
            WHERE c.kind = 'complete')
    ON CONFLICT DO NOTHING
    RETURNING id
)
INSERT INTO {schema}.batch_callbacks (batch_id, kind, id, task, queue, payload, priority,
                                      max_attempts, delay, at, limit_key, limit_max, rate_key,
                                      rate_max, rate_per, key, key_ttl)
SELECT b.id, c.kind, c.id, c.task, c.queue, c.payload, c.priority, c.max_attempts, c.delay,
       c.at, c.limit_key, c.limit_max, c.rate_key, c.rate_max, c.rate_per, c.key, c.key_ttl
FROM batch AS b
CROSS JOIN unnest($2::text[], $3::uuid[], $4::text[], $5::text[], $6::bytea[],
                  $7::smallint[], $8::integer[], $9::float8[], $10::float8[], $11::text[],
                  $12::integer[], $13::text[], $14::integer[], $15::float8[], $16::uuid[],
                  $17::text[], $18::float8[])
     AS c(kind, id, task, queue, payload, priority, max_attempts, delay, at, limit_key,
          limit_max, rate_key, rate_max, rate_per, batch_id, key, key_ttl);
