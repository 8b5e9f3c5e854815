DELETE FROM batches WHERE ended_at IS NOT NULL AND ttl IS NOT NULL AND ended_at + ttl <= ?;
