INSERT INTO batches (id, created_at, on_success, on_complete) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
