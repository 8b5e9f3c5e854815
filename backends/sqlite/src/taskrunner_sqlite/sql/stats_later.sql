-- the scheduled jobs of each queue due in the minutes after the one of ?1
SELECT queue, sum(jobs) FROM scheduled_counts
WHERE minute > CAST(?1 / 60 AS INTEGER)
    AND (?2 IS NULL OR queue IN (SELECT value FROM json_each(?2)))
GROUP BY queue
