SELECT waits.job_id FROM waits JOIN jobs ON jobs.id = waits.job_id
WHERE waits.dependency = ? AND jobs.state = 'waiting'
ORDER BY waits.seq LIMIT ?
