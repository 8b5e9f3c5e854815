SELECT id, expires_at FROM jobs WHERE queue = ? AND key = ?
