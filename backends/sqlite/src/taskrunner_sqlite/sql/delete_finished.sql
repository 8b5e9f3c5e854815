-- one finished job, unless its retention has ended (?2: now): a record past it is gone
DELETE FROM jobs
WHERE id = ?1 AND state IN ('succeeded', 'failed', 'cancelled')
    AND (expires_at IS NULL OR expires_at > ?2)
