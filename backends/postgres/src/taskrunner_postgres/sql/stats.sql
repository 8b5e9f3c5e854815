-- How many jobs each queue holds in each state ($1: only these queues; NULL: all).
SELECT j.queue,
       CASE WHEN j.state = 'scheduled' AND j.run_at <= now() THEN 'queued' ELSE j.state END,
       count(*)
FROM {schema}.jobs AS j
WHERE $1::text[] IS NULL OR j.queue = ANY($1::text[])
GROUP BY 1, 2;
