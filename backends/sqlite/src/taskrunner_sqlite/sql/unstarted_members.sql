SELECT id FROM jobs WHERE batch_id = ? AND state IN ('queued', 'scheduled') ORDER BY seq
