INSERT INTO rate_starts (queue, key, started_at) VALUES (?, ?, ?)
