-- The stored records of the jobs $1, with the attempts that ended.
SELECT {record}, j.attempts
FROM {schema}.jobs AS j
WHERE j.id = ANY($1::uuid[]);
