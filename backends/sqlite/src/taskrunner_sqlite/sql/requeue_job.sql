-- a job goes back to its queue (a retry, a release, a lost lease): queued or scheduled
UPDATE jobs SET state = ?, run_at = ?, max_attempts = ?, error = coalesce(?, error),
    lease_until = NULL, worker = NULL
WHERE id = ?
