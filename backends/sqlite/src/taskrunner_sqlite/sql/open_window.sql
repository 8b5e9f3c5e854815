INSERT OR REPLACE INTO windows (queue, key, job_id, open_until) VALUES (?, ?, ?, ?)
