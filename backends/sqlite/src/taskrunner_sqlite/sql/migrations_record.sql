INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)
