-- Record that worker $1 is alive now, for $8 seconds: $2 hostname, $3 pid, $4 queues,
-- $5 concurrency, $6 jobs running, $7 started (epoch seconds).
INSERT INTO {schema}.workers AS w (id, hostname, pid, queues, concurrency, running, started_at,
                                   last_seen, expires_at)
VALUES ($1, $2, $3, $4::text[], $5, $6, to_timestamp($7), now(),
        now() + make_interval(secs => $8))
ON CONFLICT (id) DO UPDATE
SET hostname = excluded.hostname,
    pid = excluded.pid,
    queues = excluded.queues,
    concurrency = excluded.concurrency,
    running = excluded.running,
    started_at = excluded.started_at,
    last_seen = excluded.last_seen,
    expires_at = excluded.expires_at;
