-- the admitted jobs of a claim start their attempt (their order is the caller's to restore)
UPDATE jobs SET state = 'running', attempt = attempt + 1, started_at = ?1, lease_until = ?2,
    worker = ?3, cancel_requested = 0, held = NULL, parked_until = NULL
WHERE seq IN (SELECT value FROM json_each(?4))
RETURNING seq, {record}
