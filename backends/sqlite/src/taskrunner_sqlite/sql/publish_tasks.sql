-- store a task's spec, replacing the one stored under its name
INSERT INTO task_specs (name, spec, published_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, published_at = excluded.published_at
