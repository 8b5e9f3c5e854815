DELETE FROM jobs
WHERE state IN (SELECT value FROM json_each(?1)) AND state != 'running'
    AND (?2 IS NULL OR finished_at < ?2)
    AND (?3 IS NULL OR queue = ?3)
