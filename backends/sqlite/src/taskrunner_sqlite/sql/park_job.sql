UPDATE jobs SET held = ?, parked = 1, parked_until = ? WHERE seq = ?
