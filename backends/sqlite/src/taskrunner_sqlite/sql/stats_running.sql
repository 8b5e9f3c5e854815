-- the running jobs of each queue, along jobs_leases (named: grouping by queue, the planner
-- would rather scan the whole of jobs_queue_state)
SELECT queue, count(*) FROM jobs INDEXED BY jobs_leases WHERE state = 'running' GROUP BY queue
