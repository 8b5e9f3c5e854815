-- Take up to $2 due jobs from the queues $1 for worker $3, with a lease of $4 seconds:
-- lowest priority number first, then earliest due, then first enqueued, within the limits
-- and rates the jobs carry. The work is done by claim_marked
-- (migrations/0016_claim_past_its_mark.sql, the body of claim_jobs of 0007): jobs without a
-- limit or rate key are claimed as they were before limits, from each queue's partial
-- indexes, skipping rows other workers are taking and paused queues; the others are judged
-- under their keys' locks. A claim changes no tallies (see migrations/0002_inspection.sql).
-- $5..$8 are the marks the queued scan starts past (queue, priority, run_at, seq; empty
-- arrays: every queue read from its start): see taskrunner_postgres/claiming.py. A row whose
-- id is NULL is no job but a queue's new mark; its last column is the run_at as stored.
SELECT {record}, j.seq, CASE WHEN j.id IS NULL THEN j.run_at END AS mark_run_at
FROM {schema}.claim_marked($1::text[], $2::integer, $3::text, $4::float8,
                           $5::text[], $6::smallint[], $7::timestamptz[], $8::bigint[]) AS j
ORDER BY j.priority, j.run_at, j.seq;
