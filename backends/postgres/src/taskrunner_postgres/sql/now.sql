-- The server's clock, in seconds since the epoch.
SELECT date_part('epoch', now());
