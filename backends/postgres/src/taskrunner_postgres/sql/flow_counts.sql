-- Per queue of $1: its running jobs that hold a slot of a limit key, and its queued jobs a
-- claim (or an enqueue) set aside for their limit or rate key, each counted on a partial
-- index (migrations/0007_flow_limits.sql).
SELECT q.name,
       (SELECT count(*)
        FROM {schema}.jobs AS j
        WHERE j.state = 'running' AND j.limit_key IS NOT NULL AND j.queue = q.name),
       (SELECT count(*)
        FROM {schema}.jobs AS j
        WHERE j.held = 'limit' AND j.queue = q.name)
       + (SELECT count(*)
          FROM {schema}.jobs AS j
          WHERE j.held = 'rate' AND j.queue = q.name)
FROM unnest($1::text[]) AS q(name)
