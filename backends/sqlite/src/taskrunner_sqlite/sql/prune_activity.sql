DELETE FROM activity WHERE ended_at < ?
