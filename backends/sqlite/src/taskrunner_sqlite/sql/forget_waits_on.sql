DELETE FROM waits WHERE dependency = ?
