INSERT OR REPLACE INTO workers (
    id, hostname, pid, queues, concurrency, running, started_at, last_seen, alive_until
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
