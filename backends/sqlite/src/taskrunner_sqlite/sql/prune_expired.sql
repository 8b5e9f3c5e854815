DELETE FROM jobs WHERE seq IN (
    SELECT seq FROM jobs WHERE expires_at <= ? ORDER BY expires_at LIMIT ?
)
