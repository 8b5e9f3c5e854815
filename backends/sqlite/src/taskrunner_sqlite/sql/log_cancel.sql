INSERT INTO cancel_log (job_id, asked_at) VALUES (?, ?)
