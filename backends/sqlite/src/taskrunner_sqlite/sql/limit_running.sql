SELECT count(*) FROM jobs WHERE state = 'running' AND queue = ? AND limit_key = ?
