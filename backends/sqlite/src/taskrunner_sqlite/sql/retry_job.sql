-- a failed, cancelled or scheduled job made due now (one more attempt allowed if finished)
UPDATE jobs SET state = 'queued', run_at = ?, max_attempts = ?, finished_at = NULL,
    expires_at = NULL, cancel_requested = 0, held = NULL, parked = 0, parked_until = NULL
WHERE id = ?
