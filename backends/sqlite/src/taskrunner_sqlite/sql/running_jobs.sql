-- the running jobs among (id, attempt) pairs given as a JSON array of pairs
SELECT j.id, j.attempt, j.queue, j.worker, j.started_at, j.max_attempts, j.limit_key,
    j.limit_max, j.run_at
FROM json_each(?1) AS w
JOIN jobs AS j
    ON j.id = json_extract(w.value, '$[0]') AND j.attempt = json_extract(w.value, '$[1]')
WHERE j.state = 'running'
