SELECT {record}, expires_at FROM jobs WHERE id = ?
