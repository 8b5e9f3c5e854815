-- Delete those of the jobs $1 whose retention has ended: key holders an enqueue found
-- expired, so that the key is free when it tries again (reclaim deletes the others, see
-- prune.sql). A row another statement holds is waited for, then checked again.
WITH deleted AS (
    DELETE FROM {schema}.jobs AS j
    WHERE j.id = ANY($1::uuid[]) AND j.expires_at <= now()
      AND j.state IN ('succeeded', 'failed', 'cancelled')
    RETURNING j.id
)
SELECT count(*) FROM deleted;
