-- every queue that has held a job (counted in migrations/0005_counts.sql) or ended one of
-- late
SELECT queue FROM queue_counts UNION SELECT DISTINCT queue FROM activity
