DELETE FROM workers WHERE alive_until <= ?
