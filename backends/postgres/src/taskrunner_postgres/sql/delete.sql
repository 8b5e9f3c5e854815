-- Delete the finished jobs (succeeded, failed, cancelled) among $1, in one statement as
-- purge deletes them. Answers the ids deleted, not counting records past their retention
-- (they counted as gone already).
WITH deleted AS (
    DELETE FROM {schema}.jobs AS j
    WHERE j.id = ANY($1::uuid[]) AND j.state IN ('succeeded', 'failed', 'cancelled')
    RETURNING j.id, j.expires_at
)
SELECT j.id::text FROM deleted AS j WHERE {unexpired};
