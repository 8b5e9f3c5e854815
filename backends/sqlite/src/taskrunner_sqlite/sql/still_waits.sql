SELECT 1 FROM waits WHERE job_id = ? LIMIT 1
