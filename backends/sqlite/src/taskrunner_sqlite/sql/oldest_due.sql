SELECT min(run_at) FROM jobs
WHERE queue = ?1 AND (expires_at IS NULL OR expires_at > ?2)
    AND (state = 'queued' OR (state = 'scheduled' AND run_at <= ?2))
