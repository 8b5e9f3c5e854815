SELECT id, created_at, on_success, on_complete, closed, total, waiting, queued, scheduled,
    running, succeeded, failed, cancelled, success_fired, complete_fired, ended_at, ttl,
    (SELECT count(*) FROM jobs
     WHERE batch_id = batches.id AND state = 'scheduled' AND run_at <= ?1) AS due
FROM batches WHERE id = ?2
