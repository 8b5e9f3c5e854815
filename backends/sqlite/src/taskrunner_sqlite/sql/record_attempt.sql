INSERT INTO attempts (job_id, attempt, worker, started_at, ended_at, outcome, error) VALUES (?, ?, ?, ?, ?, ?, ?)
