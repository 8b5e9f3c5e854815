-- Pause the queues $1 (those paused already stay as they are).
INSERT INTO {schema}.paused_queues (queue)
SELECT DISTINCT q.name FROM unnest($1::text[]) AS q(name)
ON CONFLICT (queue) DO NOTHING;
