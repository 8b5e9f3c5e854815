SELECT id FROM batches
WHERE (?1 IS NULL OR id < ?1) AND (ended_at IS NULL OR ttl IS NULL OR ended_at + ttl > ?2)
ORDER BY id DESC LIMIT ?3
