DELETE FROM ended WHERE seq = ?
