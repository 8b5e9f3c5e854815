-- The workers alive now, in the order they started.
SELECT w.id, w.hostname, w.pid, w.queues, w.concurrency, w.running,
       date_part('epoch', w.started_at), date_part('epoch', w.last_seen)
FROM {schema}.workers AS w
WHERE w.expires_at > now()
ORDER BY w.started_at, w.id;
