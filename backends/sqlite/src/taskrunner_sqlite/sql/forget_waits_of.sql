DELETE FROM waits WHERE job_id = ?
