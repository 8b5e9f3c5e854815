-- the due time of the queue's oldest job waiting to be claimed: the queued ones along
-- jobs_queue_state, the scheduled ones already due along jobs_scheduled_queue (not the
-- finished jobs of the queue, however many are kept)
SELECT min(due) FROM (
    SELECT min(run_at) AS due FROM jobs
    WHERE queue = ?1 AND state = 'queued' AND (expires_at IS NULL OR expires_at > ?2)
    UNION ALL
    SELECT min(run_at) FROM jobs
    WHERE queue = ?1 AND state = 'scheduled' AND run_at <= ?2
        AND (expires_at IS NULL OR expires_at > ?2)
)
