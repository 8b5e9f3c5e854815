-- Part of a WITH list (the tally placeholder): adds what the CTE `changes` lists to this
-- connection's tallies. Its rows: queue; minute; old and new stored state (old NULL for a
-- job stored, new NULL for one deleted); the outcome of the attempt that ended, or NULL.
-- A row whose minute is NULL counts the job's move (and outcome) in the current minute; a
-- row with a minute only counts the job entering or leaving the scheduled jobs due then.
tallied AS (
    INSERT INTO {schema}.tallies AS t (queue, minute, slot, unfinished, scheduled, succeeded,
                                       failed, cancelled, ended_succeeded, ended_failed,
                                       ended_retry, ended_cancelled, ended_released,
                                       ended_lost)
    SELECT c.queue, COALESCE(c.minute, floor(date_part('epoch', now()) / 60)::bigint),
           pg_backend_pid(),
           count(*) FILTER (WHERE c.minute IS NULL
                                  AND c.new IN ('queued', 'scheduled', 'running'))
               - count(*) FILTER (WHERE c.minute IS NULL
                                        AND c.old IN ('queued', 'scheduled', 'running')),
           count(*) FILTER (WHERE c.minute IS NOT NULL AND c.new = 'scheduled')
               - count(*) FILTER (WHERE c.minute IS NOT NULL AND c.old = 'scheduled'),
           count(*) FILTER (WHERE c.minute IS NULL AND c.new = 'succeeded')
               - count(*) FILTER (WHERE c.minute IS NULL AND c.old = 'succeeded'),
           count(*) FILTER (WHERE c.minute IS NULL AND c.new = 'failed')
               - count(*) FILTER (WHERE c.minute IS NULL AND c.old = 'failed'),
           count(*) FILTER (WHERE c.minute IS NULL AND c.new = 'cancelled')
               - count(*) FILTER (WHERE c.minute IS NULL AND c.old = 'cancelled'),
           count(*) FILTER (WHERE c.outcome = 'succeeded'),
           count(*) FILTER (WHERE c.outcome = 'failed'),
           count(*) FILTER (WHERE c.outcome = 'retry'),
           count(*) FILTER (WHERE c.outcome = 'cancelled'),
           count(*) FILTER (WHERE c.outcome = 'released'),
           count(*) FILTER (WHERE c.outcome = 'lost')
    FROM changes AS c
    GROUP BY 1, 2
    {tally_merge}
)
