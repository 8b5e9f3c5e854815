-- One statement trigger per INSERT into jobs, with a short way for a lone job (issue 21,
-- target 3: a single awaited enqueue).
--
-- Until here an INSERT fired two AFTER statement triggers over its transition table:
-- jobs_stored (0004, the tallies: a CTE that groups the rows per queue and minute and
-- upserts them) and jobs_batch_stored (0008, the batches' counts: an aggregate that finds
-- no member for a job without a batch). Server instructions per enqueue of one plain job,
-- callgrind over every backend process, the statement and its commit included (see
-- docs/benchmarks.md, "Where a Postgres enqueue's time goes"): about 236,000 for the first
-- and 66,000 for the second, against 52,000 for a bare one-row INSERT and its commit.
--
-- jobs_inserted does both in one call. It counts the transition table's rows up to two:
-- a statement that stored nothing (ON CONFLICT DO NOTHING on a repeated enqueue) returns
-- there, and a lone row is read. One row without a batch, not a scheduled job due in a
-- later minute (the common enqueue): its state's count is added to the row of this
-- connection's slot for the current minute with a plain UPDATE by primary key; that row
-- is there from this minute's first write on, and when it is not (the minute's first write,
-- or upkeep folded it meanwhile: the UPDATE then finds nothing) the general way below
-- writes it. Anything else takes the general way, 0008's and 0009's counts: the batches'
-- first (as when jobs_batch_stored fired before jobs_stored, the triggers running in name
-- order), then the tallies, upserted per queue for this minute, and per queue and minute
-- for the jobs due in a later one (0009 grouped both in one statement). The counts
-- written are the same either way: one row counts +1 in its state's column (waiting,
-- unfinished for queued, scheduled and running, succeeded, failed, cancelled) for this
-- minute, and a scheduled job due in a later minute also +1 `scheduled` in that minute,
-- which the short way leaves to the general one.
--
-- DELETE keeps 0009's jobs_stored_or_deleted (sign -1).

CREATE FUNCTION {schema}.jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    this_minute bigint := floor(date_part('epoch', now()) / 60)::bigint;
    stored bigint;
    one_queue text;
    one_state text;
    one_run_at timestamptz;
    one_batch uuid;
    ids uuid[];
    states text[];
    moves integer[];
BEGIN
    SELECT count(*) INTO stored FROM (SELECT FROM changed LIMIT 2) AS c;
    IF stored = 0 THEN
        RETURN NULL;
    END IF;
    IF stored = 1 THEN
        SELECT c.queue, c.state, c.run_at, c.batch_id
        INTO one_queue, one_state, one_run_at, one_batch
        FROM changed AS c;
    END IF;
    IF stored = 1 AND one_batch IS NULL
       AND (one_state <> 'scheduled' OR one_run_at < to_timestamp((this_minute + 1) * 60)) THEN
        UPDATE {schema}.tallies AS t
        SET waiting = t.waiting + (one_state = 'waiting')::integer,
            unfinished = t.unfinished
                + (one_state IN ('queued', 'scheduled', 'running'))::integer,
            succeeded = t.succeeded + (one_state = 'succeeded')::integer,
            failed = t.failed + (one_state = 'failed')::integer,
            cancelled = t.cancelled + (one_state = 'cancelled')::integer
        WHERE t.queue = one_queue AND t.minute = this_minute AND t.slot = pg_backend_pid();
        IF FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    IF stored > 1 OR one_batch IS NOT NULL THEN
        SELECT array_agg(m.batch_id), array_agg(m.state), array_agg(m.jobs)
        INTO ids, states, moves
        FROM (SELECT c.batch_id, c.state, count(*)::integer AS jobs
              FROM changed AS c WHERE c.batch_id IS NOT NULL GROUP BY 1, 2) AS m;
        IF ids IS NOT NULL THEN
            PERFORM {schema}.batch_count(ids, states, moves, true);
        END IF;
    END IF;
    -- each queue's rows in this minute, per state; a job due in a later minute also in
    -- that minute's `scheduled` (the columns not given are 0: tally_merge adds nothing)
    INSERT INTO {schema}.tallies AS t (queue, minute, slot, waiting, unfinished, succeeded,
                                       failed, cancelled)
    SELECT c.queue, this_minute, pg_backend_pid(),
           count(*) FILTER (WHERE c.state = 'waiting'),
           count(*) FILTER (WHERE c.state IN ('queued', 'scheduled', 'running')),
           count(*) FILTER (WHERE c.state = 'succeeded'),
           count(*) FILTER (WHERE c.state = 'failed'),
           count(*) FILTER (WHERE c.state = 'cancelled')
    FROM changed AS c
    GROUP BY c.queue
    {tally_merge};
    IF stored > 1
       OR one_state = 'scheduled' AND one_run_at >= to_timestamp((this_minute + 1) * 60) THEN
        INSERT INTO {schema}.tallies AS t (queue, minute, slot, scheduled)
        SELECT c.queue, floor(least(date_part('epoch', c.run_at), 1e13) / 60)::bigint,
               pg_backend_pid(), count(*)
        FROM changed AS c
        WHERE c.state = 'scheduled' AND c.run_at >= to_timestamp((this_minute + 1) * 60)
        GROUP BY 1, 2
        {tally_merge};
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER jobs_batch_stored ON {schema}.jobs;
DROP FUNCTION {schema}.jobs_batch_stored();
DROP TRIGGER jobs_stored ON {schema}.jobs;
CREATE TRIGGER jobs_stored AFTER INSERT ON {schema}.jobs
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_inserted();
