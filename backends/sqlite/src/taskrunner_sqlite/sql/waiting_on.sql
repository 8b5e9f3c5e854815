SELECT jobs.id, jobs.after_run_anyway, jobs.after_ttl, jobs.run_at
FROM waits JOIN jobs ON jobs.id = waits.job_id
WHERE waits.dependency = ? AND jobs.state = 'waiting'
ORDER BY waits.seq
