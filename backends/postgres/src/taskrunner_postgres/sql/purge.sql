-- Delete the jobs in the states $1 (never running ones), optionally only those finished
-- before $2 (epoch seconds) or in the queue $3. Answers how many, not counting records past
-- their retention (they counted as gone already).
WITH deleted AS (
    DELETE FROM {schema}.jobs AS j
    WHERE j.state <> 'running'
      AND CASE WHEN j.state = 'scheduled' AND j.run_at <= now() THEN 'queued'
               ELSE j.state END = ANY($1::text[])
      AND ($2::float8 IS NULL OR j.finished_at < to_timestamp($2))
      AND ($3::text IS NULL OR j.queue = $3)
    RETURNING j.queue, j.state, j.run_at, j.expires_at
),
changes AS (
    SELECT d.queue, NULL::bigint AS minute, d.state AS old, NULL::text AS new,
           NULL::text AS outcome
    FROM deleted AS d
    UNION ALL
    SELECT d.queue, floor(date_part('epoch', d.run_at) / 60)::bigint, d.state, NULL, NULL
    FROM deleted AS d
    WHERE d.state = 'scheduled'
),
{tally}
SELECT count(*) FROM deleted AS j WHERE {unexpired};
