-- Delete the jobs in the states $1 (never running ones), optionally only those finished
-- before $2 (epoch seconds) or in the queue $3. Answers how many, not counting records past
-- their retention (they counted as gone already). A deleted due job with a limit key may
-- have been given a free slot by a release: the slots of its key are handed on to the
-- held jobs left (release_limits, migrations/0007_flow_limits.sql).
WITH deleted AS (
    DELETE FROM {schema}.jobs AS j
    WHERE j.state <> 'running'
      AND CASE WHEN j.state = 'scheduled' AND j.run_at <= now() THEN 'queued'
               ELSE j.state END = ANY($1::text[])
      AND ($2::float8 IS NULL OR j.finished_at < to_timestamp($2))
      AND ($3::text IS NULL OR j.queue = $3)
    RETURNING j.expires_at, j.state, j.queue, j.limit_key
),
freed AS (
    SELECT CASE WHEN bool_or(d.limit_key IS NOT NULL)
                THEN {schema}.release_limits(array_agg(d.queue), array_agg(d.limit_key),
                                             '{}') END AS jobs
    FROM deleted AS d
    WHERE d.state IN ('queued', 'scheduled')
)
SELECT count(*) FROM deleted AS j CROSS JOIN freed WHERE {unexpired};
