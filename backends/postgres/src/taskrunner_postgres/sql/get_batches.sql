-- The records of the batches $1 (none past their retention).
SELECT {batch_record}
FROM {schema}.batches AS b
WHERE b.id = ANY($1::uuid[]) AND {batch_unexpired};
