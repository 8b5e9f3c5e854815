-- The stored records of the jobs $1, with the attempts that ended (none past retention).
SELECT {record}, j.attempts
FROM {schema}.jobs AS j
WHERE j.id = ANY($1::uuid[]) AND {unexpired};
