INSERT INTO activity (queue, ended_at, runtime, outcome) VALUES (?, ?, ?, ?)
