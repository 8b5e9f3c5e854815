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
    RETURNING j.expires_at
)
SELECT count(*) FROM deleted AS j WHERE {unexpired};
