UPDATE batches SET unsettled = 0, ended_at = ?, success_fired = ?, complete_fired = ? WHERE id = ?
