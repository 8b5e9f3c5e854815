-- a job ends (succeeded, failed or cancelled): kept until expires_at (NULL: until purged)
UPDATE jobs SET state = ?, result = coalesce(?, result), error = coalesce(?, error),
    finished_at = ?, expires_at = ?, lease_until = NULL, held = NULL, parked = 0,
    parked_until = NULL
WHERE id = ?
