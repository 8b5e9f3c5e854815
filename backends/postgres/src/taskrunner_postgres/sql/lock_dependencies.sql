-- Before an enqueue of jobs with dependencies, in its transaction: share-lock the stored
-- jobs among $1 (the dependencies' ids, in the order the jobs name them), in id order, so
-- that none ends or goes while the enqueue judges them (migrations/0009_dependencies.sql),
-- and answer the first of $1 that is not stored or is past its retention (none: all are).
-- A statement of its own, so that a job of the same enqueue is not taken for a stored one.
WITH stored AS MATERIALIZED (
    SELECT j.id
    FROM {schema}.jobs AS j
    WHERE j.id = ANY($1::uuid[]) AND {unexpired}
    ORDER BY j.id
    FOR SHARE
)
SELECT u.id::text
FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, ord)
WHERE NOT EXISTS (SELECT 1 FROM stored AS s WHERE s.id = u.id)
ORDER BY u.ord
LIMIT 1;
