-- the records past their retention that reclaim has not deleted yet, along jobs_expiring
-- (named: grouping by queue, the planner would rather scan the whole of jobs_queue_state)
SELECT queue, state, count(*) FROM jobs INDEXED BY jobs_expiring
WHERE expires_at <= ?1 GROUP BY queue, state
