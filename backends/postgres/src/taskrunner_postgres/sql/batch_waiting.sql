-- The ids of the members of the batch $1 not started yet (queued or scheduled), for its
-- cancel; none for a batch past its retention.
SELECT j.id::text
FROM {schema}.jobs AS j
WHERE j.batch_id = $1::uuid AND j.state IN ('queued', 'scheduled')
  AND EXISTS (SELECT 1 FROM {schema}.batches AS b WHERE b.id = $1::uuid AND {batch_unexpired});
