DELETE FROM windows WHERE open_until <= ?
