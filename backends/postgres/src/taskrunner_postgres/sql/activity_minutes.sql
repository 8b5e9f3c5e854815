-- Attempts of the queues $1 that ended per minute (epoch seconds / 60) in the last $2
-- minutes: succeeded, failed, retry, cancelled, released, lost.
SELECT t.queue, t.minute,
       sum(t.ended_succeeded)::bigint, sum(t.ended_failed)::bigint,
       sum(t.ended_retry)::bigint, sum(t.ended_cancelled)::bigint,
       sum(t.ended_released)::bigint, sum(t.ended_lost)::bigint
FROM {schema}.tallies AS t
WHERE t.queue = ANY($1::text[])
  AND t.minute > floor(date_part('epoch', now()) / 60)::bigint - $2::integer
GROUP BY t.queue, t.minute;
