-- Up to $2 ids of the members of the batch $1 in the order they were stored (UUIDv7 ids),
-- after the member $3 if given; none for a batch past its retention. Members whose own
-- records were deleted are not listed. The members' index leaves out running ones
-- (migrations/0012_cheaper_batches_and_holds.sql): they come from the running jobs' index.
SELECT m.id::text
FROM ((SELECT j.id
       FROM {schema}.jobs AS j
       WHERE j.batch_id = $1::uuid AND j.state <> 'running'
         AND ($3::uuid IS NULL OR j.id > $3::uuid)
       ORDER BY j.id
       LIMIT $2)
      UNION ALL
      SELECT j.id
      FROM {schema}.jobs AS j
      WHERE j.state = 'running' AND j.batch_id = $1::uuid
        AND ($3::uuid IS NULL OR j.id > $3::uuid)) AS m
WHERE EXISTS (SELECT 1 FROM {schema}.batches AS b WHERE b.id = $1::uuid AND {batch_unexpired})
ORDER BY m.id
LIMIT $2;
