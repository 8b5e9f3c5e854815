UPDATE jobs SET state = 'queued' WHERE state = 'scheduled' AND run_at <= ?
