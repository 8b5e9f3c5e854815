SELECT ended_at, runtime, outcome FROM activity
WHERE queue = ? ORDER BY ended_at DESC LIMIT ?
