-- Up to $2 jobs still waiting on the job $1, oldest first (ids are UUIDv7), read along the
-- edges of migrations/0009_dependencies.sql; an edge whose dependent is gone or no longer
-- waiting is passed over.
SELECT e.dependent::text
FROM {schema}.job_dependencies AS e
JOIN {schema}.jobs AS d ON d.id = e.dependent
WHERE e.dependency = $1::uuid AND d.state = 'waiting'
ORDER BY e.dependent
LIMIT $2;
