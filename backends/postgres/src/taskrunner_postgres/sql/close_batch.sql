-- Close the batch $1, kept $2 seconds after it ends (NULL: until purged), firing its
-- callbacks if its members all ended (close_batch, migrations/0008_batches.sql). Answers
-- its record; none for an unknown batch or one past its retention.
SELECT {batch_record}
FROM {schema}.close_batch($1::uuid, $2::float8) AS b;
