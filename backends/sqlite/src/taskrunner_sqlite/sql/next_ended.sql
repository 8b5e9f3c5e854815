SELECT seq, job_id, state FROM ended ORDER BY seq LIMIT 1
