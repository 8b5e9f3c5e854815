DELETE FROM rate_starts WHERE queue = ? AND key = ? AND started_at <= ?
