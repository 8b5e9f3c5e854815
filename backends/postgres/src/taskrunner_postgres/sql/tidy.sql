-- Upkeep run with reclaim, by one connection at a time ($1: the schema name; others skip
-- it). Folds the tallies of minutes other than this one and the last into slot 0 (rows
-- seldom written again: a statement writes to the minute its transaction started in, or
-- to the one a scheduled job is due in), and those older than $2 minutes into minute 0
-- (keeping the job counts, dropping the attempts and the scheduled jobs, long due). Folds
-- the per-second counts of attempts (`ended`) of minutes before the last into slot 0 too,
-- and forgets those of minutes more than $2 ago. Forgets workers that expired, and dedup
-- windows that closed, and rate windows (migrations/0007_flow_limits.sql) whose starts no
-- longer count and that hold back no job (under their key's lock, tried: a claim deciding
-- about the key keeps it). Rows a statement holds are skipped: upkeep never waits. Answers
-- whether it ran.
WITH turn AS (
    SELECT pg_try_advisory_xact_lock(hashtext('taskrunner.tidy'), hashtext($1)) AS mine,
           floor(date_part('epoch', now()) / 60)::bigint AS minute
),
loose AS (
    SELECT t.queue, t.minute, t.slot
    FROM {schema}.tallies AS t, turn
    WHERE turn.mine AND t.minute NOT IN (turn.minute, turn.minute - 1) AND t.slot <> 0
       OR turn.mine AND t.minute <= turn.minute - $2::integer AND t.minute <> 0
    FOR UPDATE OF t SKIP LOCKED
),
taken AS (
    DELETE FROM {schema}.tallies AS t
    USING loose AS l
    WHERE t.queue = l.queue AND t.minute = l.minute AND t.slot = l.slot
    RETURNING t.*
),
folded AS (
    INSERT INTO {schema}.tallies AS t (queue, minute, slot, waiting, unfinished, scheduled,
                                       succeeded, failed, cancelled, ended_succeeded,
                                       ended_failed, ended_retry, ended_cancelled,
                                       ended_released, ended_lost)
    SELECT k.queue, k.minute, 0, sum(k.waiting),
           sum(k.unfinished), sum(k.scheduled), sum(k.succeeded), sum(k.failed),
           sum(k.cancelled), sum(k.ended_succeeded), sum(k.ended_failed), sum(k.ended_retry),
           sum(k.ended_cancelled), sum(k.ended_released), sum(k.ended_lost)
    FROM (
        SELECT x.queue, x.minute, x.waiting, x.unfinished, x.scheduled, x.succeeded,
               x.failed, x.cancelled, x.ended_succeeded, x.ended_failed, x.ended_retry,
               x.ended_cancelled, x.ended_released, x.ended_lost
        FROM taken AS x, turn
        WHERE x.minute > turn.minute - $2::integer
        UNION ALL
        SELECT x.queue, 0, x.waiting, x.unfinished, 0, x.succeeded, x.failed, x.cancelled,
               0, 0, 0, 0, 0, 0
        FROM taken AS x, turn
        WHERE x.minute <= turn.minute - $2::integer
    ) AS k
    GROUP BY k.queue, k.minute
    {tally_merge}
),
loose_seconds AS (
    SELECT e.queue, e.second, e.slot
    FROM {schema}.ended AS e, turn
    WHERE turn.mine AND e.slot > 0 AND e.second < (turn.minute - 1) * 60
    FOR UPDATE OF e SKIP LOCKED
),
taken_seconds AS (
    DELETE FROM {schema}.ended AS e
    USING loose_seconds AS l
    WHERE e.queue = l.queue AND e.second = l.second AND e.slot = l.slot
    RETURNING e.*
),
folded_seconds AS (
    INSERT INTO {schema}.ended AS e (queue, second, slot, succeeded, failed, retry, cancelled,
                                     released, lost)
    SELECT k.queue, k.second, 0, sum(k.succeeded), sum(k.failed), sum(k.retry),
           sum(k.cancelled), sum(k.released), sum(k.lost)
    FROM taken_seconds AS k, turn
    WHERE k.second >= (turn.minute - $2::integer) * 60
    GROUP BY k.queue, k.second
    ON CONFLICT (queue, second, slot) DO UPDATE
        SET succeeded = e.succeeded + excluded.succeeded,
            failed = e.failed + excluded.failed,
            retry = e.retry + excluded.retry,
            cancelled = e.cancelled + excluded.cancelled,
            released = e.released + excluded.released,
            lost = e.lost + excluded.lost
),
forgotten_seconds AS (
    DELETE FROM {schema}.ended AS e
    USING turn
    WHERE turn.mine AND e.slot = 0 AND e.second < (turn.minute - $2::integer) * 60
),
expired AS (
    SELECT w.id
    FROM {schema}.workers AS w, turn
    WHERE turn.mine AND w.expires_at <= now()
    FOR UPDATE OF w SKIP LOCKED
),
gone AS (
    DELETE FROM {schema}.workers AS w
    USING expired AS e
    WHERE w.id = e.id
),
closed AS (
    SELECT d.queue, d.key
    FROM {schema}.dedup_windows AS d, turn
    WHERE turn.mine AND d.until <= now()
    FOR UPDATE OF d SKIP LOCKED
),
forgotten_windows AS (
    DELETE FROM {schema}.dedup_windows AS d
    USING closed AS c
    WHERE d.queue = c.queue AND d.key = c.key
),
quiet AS (
    SELECT r.queue, r.key
    FROM {schema}.rate_windows AS r, turn
    WHERE turn.mine AND r.opens_at IS NULL AND r.quiet_at <= now()
      AND pg_try_advisory_xact_lock({schema}.flow_lock('rate', r.queue, r.key))
    FOR UPDATE OF r SKIP LOCKED
),
forgotten_rates AS (
    DELETE FROM {schema}.rate_windows AS r
    USING quiet AS q
    WHERE r.queue = q.queue AND r.key = q.key
),
expired_batches AS (
    SELECT b.id
    FROM {schema}.batches AS b, turn
    WHERE turn.mine AND b.expires_at <= now()
    ORDER BY b.expires_at
    LIMIT 1000
    FOR UPDATE OF b SKIP LOCKED
),
forgotten_batches AS (
    DELETE FROM {schema}.batches AS b
    USING expired_batches AS e
    WHERE b.id = e.id
    RETURNING b.id
),
forgotten_callbacks AS (
    DELETE FROM {schema}.batch_callbacks AS c
    USING forgotten_batches AS f
    WHERE c.batch_id = f.id
)
SELECT turn.mine FROM turn;
