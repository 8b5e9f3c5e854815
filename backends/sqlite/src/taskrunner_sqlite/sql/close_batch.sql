UPDATE batches SET closed = 1, ttl = ?, unsettled = 1 WHERE id = ? AND closed = 0
