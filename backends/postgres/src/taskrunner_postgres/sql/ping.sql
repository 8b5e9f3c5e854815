-- A round trip that proves a connection is alive.
SELECT 1;
