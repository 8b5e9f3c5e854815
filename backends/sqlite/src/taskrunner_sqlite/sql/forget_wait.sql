DELETE FROM waits WHERE job_id = ? AND dependency = ?
