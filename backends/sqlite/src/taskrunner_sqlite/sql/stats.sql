-- jobs per queue and state (a scheduled job that is due counts as queued)
SELECT queue, CASE WHEN state = 'scheduled' AND run_at <= ?1 THEN 'queued' ELSE state END,
    count(*)
FROM jobs
WHERE (expires_at IS NULL OR expires_at > ?1)
    AND (?2 IS NULL OR queue IN (SELECT value FROM json_each(?2)))
GROUP BY 1, 2
