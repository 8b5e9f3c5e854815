INSERT INTO waits (job_id, dependency) VALUES (?, ?)
