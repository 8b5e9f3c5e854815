SELECT job_id FROM batch_members WHERE batch_id = ?1 AND seq > coalesce((SELECT seq FROM batch_members WHERE batch_id = ?1 AND job_id = ?2), 0) ORDER BY seq LIMIT ?3
