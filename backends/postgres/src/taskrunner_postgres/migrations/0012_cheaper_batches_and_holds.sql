-- Two costs off the hot paths (issues 14 and 15).
--
-- Batches (0008). A batch's row no longer counts its unfinished members (queued, scheduled,
-- running): it keeps the member total and the counts of finished ones (succeeded, failed,
-- cancelled), and reads count the unfinished members from the jobs table, along indexes that
-- hold them per batch. A claim or a requeue moves a member between unfinished states only:
-- the trigger sees that no finished count changes and returns without touching the batch's
-- row, so claims of one batch's members no longer queue on its row lock. A member's end, a
-- retry by hand, and every INSERT of members still lock the row and count as before; a batch
-- ends when it is closed and its finished members are all of them (batch_settle), decided
-- under that lock, and its callbacks are stored in that transaction, once. Running members
-- leave the members' index (jobs_batch_idx), so a claim writes no entry of it either: the
-- listing of a batch's members reads them from jobs_running_idx, which holds every running
-- job (a few per worker). A member deleted before it finished (a purge) stays in the total,
-- as before, so its batch does not end; reads no longer count it in any state.
--
-- Holds at enqueue (0007). A job stored queued with a limit key behind at least limit_max +
-- 100 queued jobs of its key that are not held and would be claimed before it (by priority,
-- then due time, then order of enqueue) is stored held at once (jobs_held_at_enqueue): the
-- claim would only set it aside later, one UPDATE per job. The trigger fires per row only for
-- such jobs (a WHEN clause: other jobs pay a test of a column), so it covers every INSERT:
-- the backend's enqueues, batch callbacks, `<schema>.enqueue(...)` and SQL by hand. A job
-- that waits on dependencies (state `waiting`, set by jobs_wait_on) is never held at
-- enqueue; it is judged by the claim when its dependencies let it be queued.
--   A held job must come back: a release (finish, reclaim, cancel, purge of a job of the key)
-- hands held jobs the free slots, but a release that commits before this enqueue does cannot
-- see its held job. So the trigger share-locks (SKIP LOCKED: it never waits) one of the jobs
-- ahead of it, the limit_max + 100-th, and holds the new job only if it got that lock. That
-- job stays queued and not held until the enqueue commits (claims pass over a locked row, a
-- cancel or a purge of it waits); after, a claim either runs it, and its end releases, or
-- sets it aside because the key is full, and the running jobs' ends release; a cancel or a
-- purge of it releases too. Any of these sees the held job. In a transaction of your own,
-- that one job is not claimed before you commit.

-- Batches ------------------------------------------------------------------------------------

ALTER TABLE {schema}.batches DROP COLUMN queued, DROP COLUMN scheduled, DROP COLUMN running;

-- members in order, but the running ones (see above)
DROP INDEX {schema}.jobs_batch_idx;
CREATE INDEX jobs_batch_idx ON {schema}.jobs (batch_id, id)
    WHERE batch_id IS NOT NULL AND state <> 'running';
-- readers and a batch's cancel: its members not started, per state (due ones show as queued)
DROP INDEX {schema}.jobs_batch_scheduled_idx;
CREATE INDEX jobs_batch_pending_idx ON {schema}.jobs (batch_id, state, run_at)
    WHERE batch_id IS NOT NULL AND state IN ('queued', 'scheduled');

-- As 0008's: fire what the counts of the batches `ids` call for, once each, and note their
-- ends; a batch ends when it is closed and every member finished.
CREATE OR REPLACE FUNCTION {schema}.batch_settle(ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    fired uuid[];
    kinds text[];
BEGIN
    WITH seen AS (
        SELECT o.id, o.closed AND o.succeeded + o.failed + o.cancelled = o.total AS ends,
               o.succeeded = o.total AS all_succeeded, o.ended_at, o.complete_fired,
               o.success_fired
        FROM {schema}.batches AS o
        WHERE o.id = ANY(ids)
    ),
    settled AS (
        UPDATE {schema}.batches AS b
        SET ended_at = CASE WHEN s.ends THEN COALESCE(s.ended_at, now()) END,
            expires_at = CASE WHEN s.ends
                              THEN COALESCE(s.ended_at, now()) + make_interval(secs => b.ttl)
                         END,
            complete_fired = s.complete_fired OR s.ends,
            success_fired = s.success_fired OR s.ends AND s.all_succeeded
        FROM seen AS s
        WHERE b.id = s.id
          AND (s.ends <> (s.ended_at IS NOT NULL)
               OR s.ends AND NOT s.complete_fired
               OR s.ends AND s.all_succeeded AND NOT s.success_fired)
        RETURNING b.id, s.ends AND s.ended_at IS NULL AS ended,
                  s.ends AND NOT s.complete_fired AS fire_complete,
                  s.ends AND s.all_succeeded AND NOT s.success_fired AS fire_success
    ),
    woken AS (
        SELECT count(pg_notify('{finished_channel}', t.id::text)) AS batches
        FROM settled AS t
        WHERE t.ended
    )
    SELECT array_agg(t.id), array_agg(f.kind)
    INTO fired, kinds
    FROM settled AS t
    CROSS JOIN woken
    CROSS JOIN LATERAL (VALUES ('success', t.fire_success), ('complete', t.fire_complete))
        AS f(kind, due)
    WHERE f.due;
    IF fired IS NOT NULL THEN
        PERFORM {schema}.batch_fire(fired, kinds);
    END IF;
END
$$;

-- As 0008's, counting the moves of other than finished states (0008's jobs_batch_stored
-- passes the states stored; jobs_batch_updated below, 'unfinished') toward the total only:
-- add moves[i] members in states[i] to batch ids[i], lock order and TRB01 as before, and
-- settle the batches whose counts now call for it.
CREATE OR REPLACE FUNCTION {schema}.batch_count(ids uuid[], states text[], moves integer[],
                                                joining boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    batches integer;
    counted integer;
    unsettled uuid[];
BEGIN
    SELECT count(DISTINCT u.id) INTO batches FROM unnest(ids) AS u(id);
    IF batches > 1 THEN
        PERFORM 1
        FROM {schema}.batches AS b
        WHERE b.id = ANY(ids)
        ORDER BY b.id
        FOR NO KEY UPDATE;
    END IF;
    WITH moved AS (
        UPDATE {schema}.batches AS b
        SET total = b.total + d.joined,
            succeeded = b.succeeded + d.succeeded,
            failed = b.failed + d.failed,
            cancelled = b.cancelled + d.cancelled
        FROM (SELECT u.id, sum(u.n)::integer AS joined,
                     COALESCE(sum(u.n) FILTER (WHERE u.state = 'succeeded'), 0) AS succeeded,
                     COALESCE(sum(u.n) FILTER (WHERE u.state = 'failed'), 0) AS failed,
                     COALESCE(sum(u.n) FILTER (WHERE u.state = 'cancelled'), 0) AS cancelled
              FROM unnest(ids, states, moves) AS u(id, state, n)
              GROUP BY u.id) AS d
        WHERE b.id = d.id AND NOT (joining AND b.closed)
        -- the new counts: does the batch end, un-end, or owe a callback? (batch_settle)
        RETURNING b.id, b.closed AND (
            (b.succeeded + b.failed + b.cancelled = b.total) <> (b.ended_at IS NOT NULL)
            OR b.succeeded + b.failed + b.cancelled = b.total
               AND (NOT b.complete_fired OR b.succeeded = b.total AND NOT b.success_fired))
            AS unsettled
    )
    SELECT count(*), array_agg(m.id) FILTER (WHERE m.unsettled)
    INTO counted, unsettled
    FROM moved AS m;
    IF joining AND counted < batches THEN
        RAISE EXCEPTION 'no open batch among %: members join open batches only', (
            SELECT string_agg(DISTINCT u::text, ', ')
            FROM unnest(ids) AS u
            WHERE NOT EXISTS (SELECT 1 FROM {schema}.batches AS b
                              WHERE b.id = u AND NOT b.closed))
            USING ERRCODE = 'TRB01';
    END IF;
    IF unsettled IS NOT NULL THEN
        PERFORM {schema}.batch_settle(unsettled);
    END IF;
END
$$;

-- What a batch's row counts a member in state `state` as: its finished state, or unfinished.
CREATE FUNCTION {schema}.batch_kind(state text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN state IN ('succeeded', 'failed', 'cancelled') THEN state
                ELSE 'unfinished' END
$$;

-- Members changed: as 0008's, by kind, so that a claim, a requeue or a lease renewal (which
-- move members between unfinished states, or not at all) cancel out and change no batch.
CREATE OR REPLACE FUNCTION {schema}.jobs_batch_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
    states text[];
    moves integer[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM added AS a WHERE a.batch_id IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM removed AS r WHERE r.batch_id IS NOT NULL) THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(c.batch_id), array_agg(c.kind), array_agg(c.n)
    INTO ids, states, moves
    FROM (SELECT x.batch_id, {schema}.batch_kind(x.state) AS kind, sum(x.n)::integer AS n
          FROM (SELECT a.batch_id, a.state, 1 AS n
                FROM added AS a
                WHERE a.batch_id IS NOT NULL
                UNION ALL
                SELECT r.batch_id, r.state, -1
                FROM removed AS r
                WHERE r.batch_id IS NOT NULL) AS x
          GROUP BY 1, 2) AS c
    WHERE c.n <> 0;
    IF ids IS NOT NULL THEN
        PERFORM {schema}.batch_count(ids, states, moves, false);
    END IF;
    RETURN NULL;
END
$$;

-- Holds at enqueue -----------------------------------------------------------------------------

-- the queued jobs of a limit key that are not held, in claim order: the claim sets a full
-- key's jobs aside from it, and an enqueue counts those ahead of a new job along it
DROP INDEX {schema}.jobs_queued_limit_idx;
CREATE INDEX jobs_queued_limit_idx ON {schema}.jobs (queue, limit_key, priority, run_at, seq)
    WHERE state = 'queued' AND held IS NULL AND limit_key IS NOT NULL;

-- A job about to be stored queued with a limit key: held at once behind a long enough
-- backlog of its key (see above). The anchor it locked is noted for the rest of the
-- transaction (a local setting, undone with a savepoint as the lock is): the next jobs of
-- the key behind it, the rows of a large enqueue, are held on a look at that one row.
CREATE FUNCTION {schema}.jobs_held_at_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    -- the anchor's id (36 characters), a line break, its queue, a line break, its key
    noted text := current_setting('taskrunner.held_anchor', true);
    anchor uuid;
    ahead boolean;
BEGIN
    IF substr(noted, 38) = NEW.queue || E'\n' || NEW.limit_key THEN
        -- by its primary key alone: the anchor is ours (locked) until the commit
        SELECT x.state = 'queued' AND x.held IS NULL AND x.queue = NEW.queue
               AND x.limit_key = NEW.limit_key
               AND (x.priority, x.run_at, x.seq) < (NEW.priority, NEW.run_at, NEW.seq)
        INTO ahead
        FROM {schema}.jobs AS x
        WHERE x.id = left(noted, 36)::uuid;
        IF ahead THEN
            NEW.held := 'limit';
            RETURN NEW;
        END IF;
    END IF;
    SELECT x.id INTO anchor
    FROM {schema}.jobs AS x
    WHERE x.state = 'queued' AND x.held IS NULL AND x.limit_key IS NOT NULL
      AND x.queue = NEW.queue AND x.limit_key = NEW.limit_key
      AND (x.priority, x.run_at, x.seq) < (NEW.priority, NEW.run_at, NEW.seq)
    ORDER BY x.priority, x.run_at, x.seq
    OFFSET greatest(NEW.limit_max, 0) + 99
    LIMIT 1;
    IF anchor IS NOT NULL THEN
        PERFORM 1
        FROM {schema}.jobs AS x
        WHERE x.id = anchor AND x.state = 'queued' AND x.held IS NULL
        FOR SHARE SKIP LOCKED;
        IF FOUND THEN
            NEW.held := 'limit';
            PERFORM set_config('taskrunner.held_anchor',
                               concat_ws(E'\n', anchor, NEW.queue, NEW.limit_key), true);
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER jobs_held_at_enqueue BEFORE INSERT ON {schema}.jobs
    FOR EACH ROW
    WHEN (NEW.limit_key IS NOT NULL AND NEW.state = 'queued' AND NEW.held IS NULL
          AND NEW.after IS NULL)
    EXECUTE FUNCTION {schema}.jobs_held_at_enqueue();
