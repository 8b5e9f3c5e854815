-- Delete the jobs in the states $1 (never running ones), optionally only those finished
-- before $2 (epoch seconds) or in the queue $3. Answers how many.
WITH deleted AS (
    DELETE FROM {schema}.jobs AS j
    WHERE j.state <> 'running'
      AND CASE WHEN j.state = 'scheduled' AND j.run_at <= now() THEN 'queued'
               ELSE j.state END = ANY($1::text[])
      AND ($2::float8 IS NULL OR j.finished_at < to_timestamp($2))
      AND ($3::text IS NULL OR j.queue = $3)
    RETURNING j.id
)
SELECT count(*) FROM deleted;
