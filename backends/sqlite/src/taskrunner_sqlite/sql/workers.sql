SELECT id, hostname, pid, queues, concurrency, running, started_at, last_seen
FROM workers WHERE alive_until > ? ORDER BY started_at, id
