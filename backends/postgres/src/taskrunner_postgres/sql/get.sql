-- The stored records of the jobs $1.
SELECT {record}
FROM {schema}.jobs AS j
WHERE j.id = ANY($1::uuid[]);
