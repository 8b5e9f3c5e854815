-- when a job of the queue may next be claimed: 0 if one is due now, else the earliest due
-- time or rate-window opening (NULL: nothing waits on time)
SELECT coalesce(
    (SELECT 0.0 FROM jobs WHERE queue = ?1 AND state = 'queued' AND parked = 0 LIMIT 1),
    min(
        coalesce((SELECT min(run_at) FROM jobs WHERE queue = ?1 AND state = 'scheduled'), 1e300),
        coalesce(
            (SELECT min(parked_until) FROM jobs
             WHERE queue = ?1 AND parked = 1 AND held = 'rate'),
            1e300
        )
    )
)
