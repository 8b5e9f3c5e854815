SELECT job_id, open_until FROM windows WHERE queue = ? AND key = ?
