DELETE FROM cancel_log WHERE asked_at < ?
