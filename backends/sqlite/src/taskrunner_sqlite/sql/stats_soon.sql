-- the scheduled jobs of each queue due after ?1 within its minute, along jobs_scheduled
-- (the minute as the triggers of migrations/0005_counts.sql reckon it)
SELECT queue, count(*) FROM jobs
WHERE state = 'scheduled' AND run_at > ?1 AND run_at < (CAST(?1 / 60 AS INTEGER) + 2) * 60
    AND CAST(run_at / 60 AS INTEGER) = CAST(?1 / 60 AS INTEGER)
GROUP BY queue
