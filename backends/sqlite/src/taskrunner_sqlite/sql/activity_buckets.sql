-- attempts that ended per bucket of ?2 seconds and outcome, from ?3 until ?4
SELECT CAST(ended_at / ?2 AS INTEGER) AS bucket, outcome, count(*) FROM activity
WHERE queue = ?1 AND ended_at >= ?3 AND ended_at < ?4
GROUP BY bucket, outcome
