-- Resume the queues $1 and wake the workers of those that were paused, as an enqueue does.
WITH resumed AS (
    DELETE FROM {schema}.paused_queues AS p
    WHERE p.queue = ANY($1::text[])
    RETURNING p.queue
)
SELECT pg_notify('{queued_channel}', r.queue) FROM resumed AS r;
