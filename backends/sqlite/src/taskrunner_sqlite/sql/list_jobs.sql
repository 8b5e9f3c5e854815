-- jobs newest first, each condition applying only when given (a scheduled job that is due
-- is told as queued)
SELECT {record} FROM jobs
WHERE (expires_at IS NULL OR expires_at > :now)
    AND (:before IS NULL OR id < :before)
    AND (:queue IS NULL OR queue = :queue)
    AND (:task IS NULL OR task = :task)
    AND (:since IS NULL OR enqueued_at >= :since)
    AND (:until IS NULL OR enqueued_at < :until)
    AND (:state IS NULL OR :state = (
        CASE WHEN state = 'scheduled' AND run_at <= :now THEN 'queued' ELSE state END
    ))
ORDER BY id DESC
LIMIT :limit
