-- the jobs whose rate window has opened go back to the claim (their `held` stays until a
-- claim takes them or sets them aside again)
UPDATE jobs SET parked = 0
WHERE parked = 1 AND held = 'rate' AND queue = ? AND parked_until <= ?
