-- the jobs of each queue by stored state, the queued and the running ones together in
-- `ready` (migrations/0005_counts.sql), of the queues in the JSON array ?1 (NULL: every
-- queue counted)
SELECT queue, waiting, ready, scheduled, succeeded, failed, cancelled
FROM queue_counts
WHERE ?1 IS NULL OR queue IN (SELECT value FROM json_each(?1))
