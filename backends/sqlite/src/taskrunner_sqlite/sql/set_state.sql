UPDATE jobs SET state = ? WHERE id = ?
