-- per queue: its running jobs that hold a slot of a limit key, and its queued jobs a claim
-- set aside for their limit or rate key (from the indexes of 0001_jobs.sql)
SELECT
    (SELECT count(*) FROM jobs WHERE state = 'running' AND limit_key IS NOT NULL AND queue = ?1),
    (SELECT count(*) FROM jobs WHERE state = 'queued' AND held IS NOT NULL AND queue = ?1)
