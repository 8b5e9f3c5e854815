-- hand jobs set aside for a limit key back to the claim, as many as it has free slots
UPDATE jobs SET parked = 0
WHERE seq IN (
    SELECT seq FROM jobs
    WHERE parked = 1 AND held = 'limit' AND queue = ?1 AND limit_key = ?2
    ORDER BY priority, run_at, seq
    LIMIT max(?3 - (
        SELECT count(*) FROM jobs
        WHERE state = 'running' AND queue = ?1 AND limit_key = ?2
    ), 0)
)
