-- the jobs of a finish end together: a JSON array of [id, state, result, error, ttl],
-- result and error as UTF-8 text (stored as the BLOBs of their bytes); see sql/end_job.sql
UPDATE jobs SET state = e.state, result = coalesce(CAST(e.result AS BLOB), jobs.result),
    error = coalesce(CAST(e.error AS BLOB), jobs.error), finished_at = ?1,
    expires_at = ?1 + e.ttl, lease_until = NULL, held = NULL, parked = 0,
    parked_until = NULL
FROM (
    SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS state,
        json_extract(value, '$[2]') AS result, json_extract(value, '$[3]') AS error,
        json_extract(value, '$[4]') AS ttl
    FROM json_each(?2)
) AS e
WHERE jobs.id = e.id
