SELECT attempt, worker, started_at, ended_at, outcome, error
FROM attempts WHERE job_id = ? ORDER BY attempt, ended_at
