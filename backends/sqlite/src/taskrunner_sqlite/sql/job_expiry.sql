SELECT expires_at FROM jobs WHERE id = ?
