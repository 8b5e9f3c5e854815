-- Up to $1 batches, newest first (ids are UUIDv7), older than the batch $2 if given (none
-- past their retention).
SELECT {batch_record}
FROM {schema}.batches AS b
WHERE ($2::uuid IS NULL OR b.id < $2::uuid) AND {batch_unexpired}
ORDER BY b.id DESC
LIMIT $1;
