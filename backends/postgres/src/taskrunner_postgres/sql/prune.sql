-- Delete up to $1 finished jobs whose retention has ended. Answers how many.
WITH doomed AS (
    SELECT j.id
    FROM {schema}.jobs AS j
    WHERE j.expires_at <= now() AND j.state IN ('succeeded', 'failed', 'cancelled')
    ORDER BY j.expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM {schema}.jobs AS j
    USING doomed AS d
    WHERE j.id = d.id
    RETURNING j.id
)
SELECT count(*) FROM deleted;
