SELECT seq, job_id FROM cancel_log WHERE seq > ? ORDER BY seq
