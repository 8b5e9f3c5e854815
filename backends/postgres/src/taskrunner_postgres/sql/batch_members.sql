-- Up to $2 ids of the members of the batch $1 in the order they were stored (UUIDv7 ids),
-- after the member $3 if given; none for a batch past its retention. Members whose own
-- records were deleted are not listed.
SELECT j.id::text
FROM {schema}.jobs AS j
WHERE j.batch_id = $1::uuid AND ($3::uuid IS NULL OR j.id > $3::uuid)
  AND EXISTS (SELECT 1 FROM {schema}.batches AS b WHERE b.id = $1::uuid AND {batch_unexpired})
ORDER BY j.id
LIMIT $2;
