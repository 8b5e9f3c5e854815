SELECT id, closed FROM batches WHERE id = ?
