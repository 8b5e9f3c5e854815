-- Dedup keys become unique within their queue rather than across all queues: the same key
-- on two queues names two jobs. Every pair the old index allowed is unique here too, so
-- building this one cannot fail on the rows already stored.
CREATE UNIQUE INDEX jobs_queue_key_idx ON {schema}.jobs (queue, key)
    WHERE key IS NOT NULL;
DROP INDEX {schema}.jobs_key_idx;
