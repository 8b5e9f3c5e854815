-- Attempts of the queues $1 that ended in each second from $2 (epoch seconds) to the end of
-- its minute: succeeded, failed, retry, cancelled, released, lost.
SELECT e.queue, e.second,
       sum(e.succeeded)::bigint, sum(e.failed)::bigint, sum(e.retry)::bigint,
       sum(e.cancelled)::bigint, sum(e.released)::bigint, sum(e.lost)::bigint
FROM {schema}.ended AS e
WHERE e.queue = ANY($1::text[])
  AND e.second >= $2::bigint
  AND e.second < ($2::bigint / 60 + 1) * 60
GROUP BY e.queue, e.second;
