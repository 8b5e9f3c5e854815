-- Dependencies (issue 15): jobs that wait for other jobs (`NewJob.after`). See
-- `taskrunner.backend.dependencies` for the rules.
--
-- A job stored with `after` (its dependencies' ids) is judged as its row is inserted, by a
-- BEFORE INSERT row trigger (jobs_wait_on) that share-locks its dependencies, in id order:
--   - a dependency that is not stored, or past its retention, fails the statement with
--     SQLSTATE TRD01 (DETAIL: the id), which the backend tells as DependencyNotFound;
--   - one that failed or was cancelled (without after_run_anyway) stores the job cancelled,
--     with the error `dependency_error` encodes, kept after_ttl seconds;
--   - else, while some dependency has not ended, the job is stored `waiting`, after_pending
--     counting those, and an AFTER INSERT row trigger (jobs_waits) records an edge
--     (dependency, dependent) for each; with none, it is stored queued or scheduled as usual.
-- Waiting jobs are in none of the claim's partial indexes: the claim never reads them.
-- Both triggers have a WHEN clause, so a job without `after` costs a test of one column.
--
-- When an UPDATE ends jobs (moves them into succeeded, failed or cancelled: a finish, a
-- cancel, SQL by hand), the statement-level trigger that tallies it (0004's jobs_updated,
-- replaced below) has the dependents of those that have edges judged, in the same
-- transaction (judge_dependents). It asks there rather than in a trigger of its own, which
-- every claim and lease renewal would pay a call for: those return before. The judge
-- deletes the ended jobs' edges (a dependency is judged by its first end: a retry by hand
-- finds none), then moves each waiting dependent in one UPDATE: a dependency that succeeded (any end, with
-- after_run_anyway) is met, and the last one met makes the job queued, or scheduled while
-- its own due time is later; one that failed or was cancelled cancels it, naming that
-- dependency (the lowest id, when several end in one statement). The jobs it cancels have
-- dependents in turn: the function judges them in a loop rather than through the trigger
-- firing again, which for a chain of a hundred jobs would exhaust the server's stack. While
-- the loop runs, the transaction-local setting `taskrunner.judging` keeps the trigger's
-- nested firings (which tally the changes) from judging them too.
--
-- Locking. The enqueue's share lock conflicts with the row lock of any UPDATE of a
-- dependency, so a dependency's end either committed before the enqueue read its state, or
-- waits for the enqueue to commit and its trigger then finds the new edges (each statement of
-- a VOLATILE plpgsql function reads a fresh snapshot, in READ COMMITTED). The judge locks
-- the dependents in id order before reading and changing them: two transactions judging
-- dependents in common never wait on each other in a cycle, and the second one reads the
-- count the first left.
--
-- Edges have no foreign key (a dependency may be purged: its dependents then wait until
-- cancelled, as on every backend). An edge goes when its dependency ends; one whose
-- dependent is gone or no longer waiting is skipped then.
--
-- Waiting jobs are tallied like the other states: the trigger functions of 0004 are
-- replaced by the same ones with a `waiting` column (not part of `unfinished`, which stays
-- queued + scheduled + running). No job was waiting before this migration: nothing to count.

-- The rows already stored pass the old check, a narrower one: no need to scan them again
-- under the table's lock.
ALTER TABLE {schema}.jobs
    DROP CONSTRAINT jobs_state_check,
    ADD CONSTRAINT jobs_state_check CHECK (state IN (
        'waiting', 'queued', 'scheduled', 'running', 'succeeded', 'failed', 'cancelled'))
        NOT VALID,
    ADD COLUMN after uuid[],
    ADD COLUMN after_run_anyway boolean NOT NULL DEFAULT false,
    ADD COLUMN after_ttl float8,         -- seconds a job cancelled by a dependency is kept
    ADD COLUMN after_pending integer;    -- its dependencies not ended yet, while waiting

CREATE TABLE {schema}.job_dependencies (
    dependency uuid NOT NULL,
    dependent  uuid NOT NULL,
    -- judging: the edges of a dependency; `dependents()`: in id order, the oldest first
    PRIMARY KEY (dependency, dependent)
);

ALTER TABLE {schema}.tallies ADD COLUMN waiting bigint NOT NULL DEFAULT 0;

-- The error of a job cancelled because its dependency `dependency` ended in `state`: the
-- bytes of taskrunner.backend.dependency_error (compact JSON, keys in this order).
CREATE FUNCTION {schema}.dependency_error(dependency uuid, state text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT convert_to(
        '{"type":"DependencyFailed","message":"its dependency ' || dependency::text
        || CASE WHEN state = 'failed' THEN ' failed' ELSE ' was cancelled' END
        || '","traceback":""}',
        'UTF8')
$$;

-- A new job with `after`: lock its dependencies, and set its state (see above). Only the
-- locking statement reads the table, by primary key (its plan, cached in the session, must
-- not turn into a scan while a table that was small grows: hence no seqscan); the decision
-- is made on what it read.
CREATE FUNCTION {schema}.jobs_wait_on() RETURNS trigger
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    ids uuid[];
    states text[];
    missing text;
    failing uuid;
    failing_state text;
BEGIN
    SELECT array_agg(j.id), array_agg(j.state)
    INTO ids, states
    FROM (SELECT j.id, j.state
          FROM {schema}.jobs AS j
          WHERE j.id = ANY(NEW.after) AND {unexpired}
          ORDER BY j.id
          FOR SHARE) AS j;
    SELECT (array_agg(COALESCE(u.id::text, 'null') ORDER BY u.ord)
                FILTER (WHERE d.id IS NULL))[1],
           (array_agg(d.id ORDER BY u.ord) FILTER (WHERE d.state IN ('failed', 'cancelled')))[1],
           (array_agg(d.state ORDER BY u.ord)
                FILTER (WHERE d.state IN ('failed', 'cancelled')))[1],
           count(DISTINCT d.id) FILTER (WHERE d.state NOT IN ('succeeded', 'failed', 'cancelled'))
    INTO missing, failing, failing_state, NEW.after_pending
    FROM unnest(NEW.after) WITH ORDINALITY AS u(id, ord)
    LEFT JOIN unnest(ids, states) AS d(id, state) ON d.id = u.id;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'job % given to after= is not stored', missing
            USING ERRCODE = 'TRD01', DETAIL = missing;
    END IF;
    IF failing IS NOT NULL AND NOT NEW.after_run_anyway THEN
        NEW.state := 'cancelled';
        NEW.error := {schema}.dependency_error(failing, failing_state);
        NEW.finished_at := now();
        NEW.expires_at := now() + make_interval(secs => NEW.after_ttl);
        NEW.after_pending := 0;
    ELSIF NEW.after_pending > 0 THEN
        NEW.state := 'waiting';
    END IF;
    RETURN NEW;
END
$$;

-- A job stored waiting: an edge from each dependency not ended yet (the dependencies are
-- locked since jobs_wait_on counted them, so these are the ones it counted).
CREATE FUNCTION {schema}.jobs_waits() RETURNS trigger
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
BEGIN
    INSERT INTO {schema}.job_dependencies (dependency, dependent)
    SELECT j.id, NEW.id
    FROM {schema}.jobs AS j
    WHERE j.id = ANY(NEW.after) AND j.state NOT IN ('succeeded', 'failed', 'cancelled')
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

-- Judge the waiting dependents of the jobs `ended` (which ended in `states`), then those
-- of the dependents this cancels, and so on (see above). Wakes the workers of the queues
-- that got jobs, and the waiters of the jobs cancelled.
CREATE FUNCTION {schema}.judge_dependents(ended uuid[], states text[]) RETURNS void
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
BEGIN
    PERFORM set_config('taskrunner.judging', 'on', true);
    WHILE ended IS NOT NULL LOOP
        -- every dependent, waiting or not: reached by primary key, never by its state
        PERFORM 1
        FROM {schema}.jobs AS d
        WHERE d.id IN (SELECT e.dependent
                       FROM {schema}.job_dependencies AS e
                       WHERE e.dependency = ANY(ended))
        ORDER BY d.id
        FOR NO KEY UPDATE;
        WITH gone AS (
            DELETE FROM {schema}.job_dependencies AS e
            WHERE e.dependency = ANY(ended)
            RETURNING e.dependency, e.dependent
        ),
        verdicts AS (
            -- per waiting dependent (locked: its state holds): how many of its dependencies
            -- ended here, and the error of the first that did not succeed (NULL: none, or
            -- it runs anyway)
            SELECT g.dependent AS id, count(*)::integer AS met,
                   (array_agg({schema}.dependency_error(g.dependency, x.state)
                              ORDER BY g.dependency)
                        FILTER (WHERE x.state <> 'succeeded' AND NOT d.after_run_anyway))[1]
                       AS error
            FROM gone AS g
            JOIN unnest(ended, states) AS x(id, state) ON x.id = g.dependency
            JOIN {schema}.jobs AS d ON d.id = g.dependent
            GROUP BY g.dependent
            HAVING bool_and(d.state = 'waiting')
        ),
        judged AS (
            UPDATE {schema}.jobs AS d
            SET after_pending = d.after_pending - v.met,
                state = CASE WHEN v.error IS NOT NULL THEN 'cancelled'
                             WHEN d.after_pending > v.met THEN 'waiting'
                             WHEN d.run_at <= now() THEN 'queued'
                             ELSE 'scheduled' END,
                error = COALESCE(v.error, d.error),
                finished_at = CASE WHEN v.error IS NOT NULL THEN now() END,
                expires_at = CASE WHEN v.error IS NOT NULL
                                  THEN now() + make_interval(secs => d.after_ttl) END
            FROM verdicts AS v
            WHERE d.id = v.id
            RETURNING d.id, d.state, d.queue
        ),
        woken AS (
            SELECT (SELECT count(pg_notify('{finished_channel}', k.id::text))
                    FROM judged AS k
                    WHERE k.state = 'cancelled') AS jobs,
                   (SELECT count(pg_notify('{queued_channel}', q.queue))
                    FROM (SELECT DISTINCT k.queue
                          FROM judged AS k
                          WHERE k.state IN ('queued', 'scheduled')) AS q) AS queues
        )
        -- the jobs cancelled here: their dependents are judged next
        SELECT array_agg(j.id) FILTER (WHERE j.state = 'cancelled'),
               array_agg(j.state) FILTER (WHERE j.state = 'cancelled')
        INTO ended, states
        FROM judged AS j
        CROSS JOIN woken;
    END LOOP;
    PERFORM set_config('taskrunner.judging', '', true);
END
$$;

CREATE TRIGGER jobs_wait_on BEFORE INSERT ON {schema}.jobs
    FOR EACH ROW WHEN (NEW.after IS NOT NULL)
    EXECUTE FUNCTION {schema}.jobs_wait_on();
CREATE TRIGGER jobs_waits AFTER INSERT ON {schema}.jobs
    FOR EACH ROW WHEN (NEW.state = 'waiting')
    EXECUTE FUNCTION {schema}.jobs_waits();

-- 0004's tally functions, counting waiting jobs too (in `waiting`); the one of UPDATEs also
-- has the jobs that ended judged (judge_dependents).
CREATE OR REPLACE FUNCTION {schema}.jobs_stored_or_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH clock AS (
        SELECT floor(date_part('epoch', now()) / 60)::bigint AS minute,
               CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END AS sign
    ),
    deltas AS (
        SELECT c.queue, clock.minute,
               clock.sign * (c.state = 'waiting')::integer AS waiting,
               clock.sign * (c.state IN ('queued', 'scheduled', 'running'))::integer
                   AS unfinished,
               0 AS scheduled,
               clock.sign * (c.state = 'succeeded')::integer AS succeeded,
               clock.sign * (c.state = 'failed')::integer AS failed,
               clock.sign * (c.state = 'cancelled')::integer AS cancelled
        FROM changed AS c, clock
        UNION ALL
        SELECT c.queue, floor(least(date_part('epoch', c.run_at), 1e13) / 60)::bigint,
               0, 0, clock.sign, 0, 0, 0
        FROM changed AS c, clock
        WHERE c.state = 'scheduled' AND c.run_at >= to_timestamp((clock.minute + 1) * 60)
    )
    INSERT INTO {schema}.tallies AS t (queue, minute, slot, waiting, unfinished, scheduled,
                                       succeeded, failed, cancelled)
    SELECT d.queue, d.minute, pg_backend_pid(), sum(d.waiting), sum(d.unfinished),
           sum(d.scheduled), sum(d.succeeded), sum(d.failed), sum(d.cancelled)
    FROM deltas AS d
    GROUP BY d.queue, d.minute
    ON CONFLICT (queue, minute, slot) DO UPDATE
        SET waiting = t.waiting + excluded.waiting,
            unfinished = t.unfinished + excluded.unfinished,
            scheduled = t.scheduled + excluded.scheduled,
            succeeded = t.succeeded + excluded.succeeded,
            failed = t.failed + excluded.failed,
            cancelled = t.cancelled + excluded.cancelled;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION {schema}.jobs_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ended uuid[];
    states text[];
BEGIN
    IF NOT EXISTS (
        SELECT FROM removed AS r
        FULL JOIN added AS a ON a.id = r.id
        WHERE (r.queue = a.queue
               AND (r.state = a.state AND (r.state <> 'scheduled' OR r.run_at = a.run_at)
                    OR a.state = 'running'
                       AND (r.state = 'queued'
                            OR r.state = 'scheduled'
                               AND r.run_at < to_timestamp(
                                   (floor(date_part('epoch', now()) / 60) + 1) * 60))))
              IS NOT TRUE
    ) THEN
        RETURN NULL;
    END IF;
    WITH clock AS (
        SELECT floor(date_part('epoch', now()))::bigint AS second
    ),
    pairs AS (
        SELECT r.queue AS old_queue, r.state AS old_state, r.run_at AS old_run_at,
               a.queue, a.state, a.run_at,
               CASE WHEN r.id IS NULL OR a.id IS NULL OR r.state <> 'running'
                         OR a.state = 'running' THEN NULL
                    WHEN a.state IN ('succeeded', 'failed', 'cancelled') THEN a.state
                    WHEN jsonb_typeof(a.attempts) IS DISTINCT FROM 'array' THEN 'lost'
                    WHEN jsonb_array_length(a.attempts)
                         > CASE WHEN jsonb_typeof(r.attempts) = 'array'
                                THEN jsonb_array_length(r.attempts) ELSE 0 END
                         AND a.attempts -> -1 ->> 'outcome' IN ('retry', 'released')
                    THEN a.attempts -> -1 ->> 'outcome'
                    ELSE 'lost' END AS outcome
        FROM removed AS r
        FULL JOIN added AS a ON a.id = r.id
        WHERE r.id IS NULL OR a.id IS NULL OR r.queue <> a.queue OR r.state <> a.state
           OR r.state = 'scheduled' AND r.run_at <> a.run_at
    ),
    changes AS (
        SELECT p.queue, p.state, p.run_at, 1 AS sign, p.outcome
        FROM pairs AS p
        WHERE p.queue IS NOT NULL
        UNION ALL
        SELECT p.old_queue, p.old_state, p.old_run_at, -1, NULL
        FROM pairs AS p
        WHERE p.old_queue IS NOT NULL
    ),
    deltas AS (
        SELECT c.queue, clock.second / 60 AS minute,
               c.sign * (c.state = 'waiting')::integer AS waiting,
               c.sign * (c.state IN ('queued', 'scheduled', 'running'))::integer AS unfinished,
               0 AS scheduled,
               c.sign * (c.state = 'succeeded')::integer AS succeeded,
               c.sign * (c.state = 'failed')::integer AS failed,
               c.sign * (c.state = 'cancelled')::integer AS cancelled,
               (c.outcome IS NOT DISTINCT FROM 'succeeded')::integer AS ended_succeeded,
               (c.outcome IS NOT DISTINCT FROM 'failed')::integer AS ended_failed,
               (c.outcome IS NOT DISTINCT FROM 'retry')::integer AS ended_retry,
               (c.outcome IS NOT DISTINCT FROM 'cancelled')::integer AS ended_cancelled,
               (c.outcome IS NOT DISTINCT FROM 'released')::integer AS ended_released,
               (c.outcome IS NOT DISTINCT FROM 'lost')::integer AS ended_lost
        FROM changes AS c, clock
        UNION ALL
        SELECT c.queue, floor(least(date_part('epoch', c.run_at), 1e13) / 60)::bigint,
               0, 0, c.sign, 0, 0, 0, 0, 0, 0, 0, 0, 0
        FROM changes AS c, clock
        WHERE c.state = 'scheduled' AND c.run_at >= to_timestamp((clock.second / 60 + 1) * 60)
    ),
    tallied AS (
        INSERT INTO {schema}.tallies AS t (queue, minute, slot, waiting, unfinished, scheduled,
                                           succeeded, failed, cancelled, ended_succeeded,
                                           ended_failed, ended_retry, ended_cancelled,
                                           ended_released, ended_lost)
        SELECT d.queue, d.minute, pg_backend_pid(), sum(d.waiting),
               sum(d.unfinished), sum(d.scheduled), sum(d.succeeded), sum(d.failed),
               sum(d.cancelled), sum(d.ended_succeeded), sum(d.ended_failed),
               sum(d.ended_retry), sum(d.ended_cancelled), sum(d.ended_released),
               sum(d.ended_lost)
        FROM deltas AS d
        GROUP BY d.queue, d.minute
        ON CONFLICT (queue, minute, slot) DO UPDATE
            SET waiting = t.waiting + excluded.waiting,
                unfinished = t.unfinished + excluded.unfinished,
                scheduled = t.scheduled + excluded.scheduled,
                succeeded = t.succeeded + excluded.succeeded,
                failed = t.failed + excluded.failed,
                cancelled = t.cancelled + excluded.cancelled,
                ended_succeeded = t.ended_succeeded + excluded.ended_succeeded,
                ended_failed = t.ended_failed + excluded.ended_failed,
                ended_retry = t.ended_retry + excluded.ended_retry,
                ended_cancelled = t.ended_cancelled + excluded.ended_cancelled,
                ended_released = t.ended_released + excluded.ended_released,
                ended_lost = t.ended_lost + excluded.ended_lost
    )
    INSERT INTO {schema}.ended AS e (queue, second, slot, succeeded, failed, retry, cancelled,
                                     released, lost)
    SELECT c.queue, clock.second, pg_backend_pid(),
           count(*) FILTER (WHERE c.outcome = 'succeeded'),
           count(*) FILTER (WHERE c.outcome = 'failed'),
           count(*) FILTER (WHERE c.outcome = 'retry'),
           count(*) FILTER (WHERE c.outcome = 'cancelled'),
           count(*) FILTER (WHERE c.outcome = 'released'),
           count(*) FILTER (WHERE c.outcome = 'lost')
    FROM changes AS c, clock
    WHERE c.outcome IS NOT NULL
    GROUP BY c.queue, clock.second
    ON CONFLICT (queue, second, slot) DO UPDATE
        SET succeeded = e.succeeded + excluded.succeeded,
            failed = e.failed + excluded.failed,
            retry = e.retry + excluded.retry,
            cancelled = e.cancelled + excluded.cancelled,
            released = e.released + excluded.released,
            lost = e.lost + excluded.lost;
    -- the jobs that ended and have edges: their end is judged now (see above). A job in a
    -- finished state with edges has just ended: its edges go when its end is judged.
    IF current_setting('taskrunner.judging', true) IS DISTINCT FROM 'on' THEN
        SELECT array_agg(a.id), array_agg(a.state)
        INTO ended, states
        FROM added AS a
        WHERE a.state IN ('succeeded', 'failed', 'cancelled')
          AND EXISTS (SELECT 1 FROM {schema}.job_dependencies AS e WHERE e.dependency = a.id);
        IF ended IS NOT NULL THEN
            PERFORM {schema}.judge_dependents(ended, states);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- A TRUNCATE of the jobs zeroes the counts (waiting too) and forgets every edge.
CREATE OR REPLACE FUNCTION {schema}.jobs_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {schema}.tallies
    SET waiting = 0, unfinished = 0, scheduled = 0, succeeded = 0, failed = 0, cancelled = 0
    WHERE (waiting, unfinished, scheduled, succeeded, failed, cancelled)
          <> (0, 0, 0, 0, 0, 0);
    TRUNCATE {schema}.job_dependencies;
    RETURN NULL;
END
$$;
