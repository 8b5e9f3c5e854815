UPDATE jobs SET lease_until = ?, progress = coalesce(?, progress)
WHERE id = ? AND attempt = ? AND state = 'running'
RETURNING cancel_requested
