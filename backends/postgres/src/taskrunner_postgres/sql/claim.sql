-- Take up to $2 due jobs from the queues $1 for worker $3, with a lease of $4 seconds:
-- lowest priority number first, then earliest due, then first enqueued, within the limits
-- and rates the jobs carry. The work is done by claim_jobs (migrations/0007_flow_limits.sql):
-- jobs without a limit or rate key are claimed as they were before limits, from each
-- queue's partial indexes, skipping rows other workers are taking and paused queues; the
-- others are judged under their keys' locks. A claim changes no tallies (see
-- migrations/0002_inspection.sql).
SELECT {record}, j.seq
FROM {schema}.claim_jobs($1::text[], $2::integer, $3::text, $4::float8) AS j
ORDER BY j.priority, j.run_at, j.seq;
