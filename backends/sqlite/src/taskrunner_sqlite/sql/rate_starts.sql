-- the latest starts of a rate key within its window, newest first
SELECT started_at FROM rate_starts
WHERE queue = ? AND key = ? AND started_at > ?
ORDER BY started_at DESC
LIMIT ?
