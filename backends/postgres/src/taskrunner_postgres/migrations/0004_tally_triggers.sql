-- Counts kept by the database, whatever writes the jobs table, and the attempts that ended
-- counted per second as well as per minute.
--
-- Until 0003 the backend's own statements added their changes to `tallies`, so a row
-- written by anything else (plain SQL, another tool) left the counts wrong. Here a trigger
-- per kind of statement (INSERT, UPDATE, DELETE), run once per statement over its
-- transition tables, adds every change, and the backend's statements no longer do it
-- themselves; a TRUNCATE zeroes the counts. The rules stay those of 0002: changes go to a
-- row of this connection (slot) for the current minute, and scheduled jobs to the minute
-- they are due in, only while that minute is still to come (readers count the others from
-- jobs_scheduled_idx): a claim still writes nothing.
--
-- An attempt ends when an UPDATE moves a job out of 'running'. Its outcome is the job's new
-- state when that finishes the job, else the one the statement logged on the job (the last
-- entry of `attempts`: retry, released or lost), or 'lost' when it logged none (a job put
-- back by hand). It is counted per minute in `tallies` and per second in `ended`.
--
-- A due time of 'infinity' (which only SQL can store) counts in the minute of 1e13 s, past
-- any finite time Postgres holds.
--
-- `ended` lets a stats window start at any second: readers take the whole minutes after the
-- one a window starts in from `tallies`, and that minute's seconds from here. Rows are per
-- connection, as in tallies; upkeep (sql/tidy.sql) folds those of past minutes into slot 0
-- and forgets those of minutes past the hour.

CREATE TABLE {schema}.ended (
    queue     text    NOT NULL,
    second    bigint  NOT NULL,
    slot      integer NOT NULL,
    succeeded bigint  NOT NULL DEFAULT 0,
    failed    bigint  NOT NULL DEFAULT 0,
    retry     bigint  NOT NULL DEFAULT 0,
    cancelled bigint  NOT NULL DEFAULT 0,
    released  bigint  NOT NULL DEFAULT 0,
    lost      bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, second, slot)
);

-- upkeep: the rows of connections (slot > 0) to fold, and the folded ones past the hour
CREATE INDEX ended_upkeep_idx ON {schema}.ended (slot, second);

-- The changes of an INSERT (sign 1) or a DELETE (sign -1): both triggers name their rows
-- `changed`.
CREATE FUNCTION {schema}.jobs_stored_or_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH clock AS (
        SELECT floor(date_part('epoch', now()) / 60)::bigint AS minute,
               CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END AS sign
    ),
    deltas AS (
        SELECT c.queue, clock.minute,
               clock.sign * (c.state IN ('queued', 'scheduled', 'running'))::integer
                   AS unfinished,
               0 AS scheduled,
               clock.sign * (c.state = 'succeeded')::integer AS succeeded,
               clock.sign * (c.state = 'failed')::integer AS failed,
               clock.sign * (c.state = 'cancelled')::integer AS cancelled
        FROM changed AS c, clock
        UNION ALL
        SELECT c.queue, floor(least(date_part('epoch', c.run_at), 1e13) / 60)::bigint,
               0, clock.sign, 0, 0, 0
        FROM changed AS c, clock
        WHERE c.state = 'scheduled' AND c.run_at >= to_timestamp((clock.minute + 1) * 60)
    )
    INSERT INTO {schema}.tallies AS t (queue, minute, slot, unfinished, scheduled, succeeded,
                                       failed, cancelled)
    SELECT d.queue, d.minute, pg_backend_pid(), sum(d.unfinished), sum(d.scheduled),
           sum(d.succeeded), sum(d.failed), sum(d.cancelled)
    FROM deltas AS d
    GROUP BY d.queue, d.minute
    ON CONFLICT (queue, minute, slot) DO UPDATE
        SET unfinished = t.unfinished + excluded.unfinished,
            scheduled = t.scheduled + excluded.scheduled,
            succeeded = t.succeeded + excluded.succeeded,
            failed = t.failed + excluded.failed,
            cancelled = t.cancelled + excluded.cancelled;
    RETURN NULL;
END
$$;

-- The changes of an UPDATE: a row whose queue, state or due time changed counts as its old
-- version gone (-1) and its new one stored (1), whatever else changed, its id included. A
-- claim or a lease renewal (due jobs to running, running to running, in one queue) changes
-- no count, so the statement returns early when every row is such; the attempts an UPDATE
-- ended are counted with their outcome, per minute and per second.
CREATE FUNCTION {schema}.jobs_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
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
               0, c.sign, 0, 0, 0, 0, 0, 0, 0, 0, 0
        FROM changes AS c, clock
        WHERE c.state = 'scheduled' AND c.run_at >= to_timestamp((clock.second / 60 + 1) * 60)
    ),
    tallied AS (
        INSERT INTO {schema}.tallies AS t (queue, minute, slot, unfinished, scheduled,
                                           succeeded, failed, cancelled, ended_succeeded,
                                           ended_failed, ended_retry, ended_cancelled,
                                           ended_released, ended_lost)
        SELECT d.queue, d.minute, pg_backend_pid(),
               sum(d.unfinished), sum(d.scheduled), sum(d.succeeded), sum(d.failed),
               sum(d.cancelled), sum(d.ended_succeeded), sum(d.ended_failed),
               sum(d.ended_retry), sum(d.ended_cancelled), sum(d.ended_released),
               sum(d.ended_lost)
        FROM deltas AS d
        GROUP BY d.queue, d.minute
        ON CONFLICT (queue, minute, slot) DO UPDATE
            SET unfinished = t.unfinished + excluded.unfinished,
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
    RETURN NULL;
END
$$;

CREATE FUNCTION {schema}.jobs_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {schema}.tallies
    SET unfinished = 0, scheduled = 0, succeeded = 0, failed = 0, cancelled = 0
    WHERE (unfinished, scheduled, succeeded, failed, cancelled) <> (0, 0, 0, 0, 0);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_stored AFTER INSERT ON {schema}.jobs
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_stored_or_deleted();
CREATE TRIGGER jobs_updated AFTER UPDATE ON {schema}.jobs
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_updated();
CREATE TRIGGER jobs_deleted AFTER DELETE ON {schema}.jobs
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_stored_or_deleted();
CREATE TRIGGER jobs_truncated AFTER TRUNCATE ON {schema}.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_truncated();

-- Count again the jobs already stored, mending counts that writes by hand put off. Creating
-- the triggers made writes to the table wait for this transaction, so none is missed.
UPDATE {schema}.tallies
SET unfinished = 0, scheduled = 0, succeeded = 0, failed = 0, cancelled = 0;

INSERT INTO {schema}.tallies AS t (queue, minute, slot, unfinished, succeeded, failed, cancelled)
SELECT j.queue, 0, 0,
       count(*) FILTER (WHERE j.state IN ('queued', 'scheduled', 'running')),
       count(*) FILTER (WHERE j.state = 'succeeded'),
       count(*) FILTER (WHERE j.state = 'failed'),
       count(*) FILTER (WHERE j.state = 'cancelled')
FROM {schema}.jobs AS j
GROUP BY j.queue
ON CONFLICT (queue, minute, slot) DO UPDATE
    SET unfinished = excluded.unfinished, succeeded = excluded.succeeded,
        failed = excluded.failed, cancelled = excluded.cancelled;

INSERT INTO {schema}.tallies AS t (queue, minute, slot, scheduled)
SELECT j.queue, floor(least(date_part('epoch', j.run_at), 1e13) / 60)::bigint, 0, count(*)
FROM {schema}.jobs AS j
WHERE j.state = 'scheduled'
  AND j.run_at >= to_timestamp((floor(date_part('epoch', now()) / 60) + 1) * 60)
GROUP BY 1, 2
ON CONFLICT (queue, minute, slot) DO UPDATE SET scheduled = excluded.scheduled;
