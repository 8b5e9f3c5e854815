-- Batches (issue 15): jobs that finish together, with a callback job stored exactly once
-- when the closed batch's members have all ended (on_complete) or all succeeded
-- (on_success). See `taskrunner.backend.Batches` for the rules.
--
-- A member is a job whose `batch_id` names its batch. The batch's row counts its members
-- per state, and statement-level triggers over the jobs' transition tables (as 0004's
-- tallies) keep those counts, whatever statement moves a member: enqueue, claim, finish,
-- cancel, retry, reclaim, or SQL by hand. A member's change and its batch's count are thus
-- one atomic step, and so is the callback: the trigger that ends a closed batch inserts the
-- callback job in the same transaction, and records that it did (complete_fired,
-- success_fired), so it is stored once whatever crashes around it. Deleting a member
-- (retention, purge) leaves the counts as they are: no DELETE trigger.
--
-- Locking. Every change to a batch's counts first locks its row (FOR NO KEY UPDATE, several
-- batches in id order, so two statements never wait on each other in a cycle), and the
-- statements that follow read a fresh snapshot (READ COMMITTED, VOLATILE plpgsql): two
-- members of one batch finishing at once from two connections are counted one after the
-- other, and the second sees the first's count when it decides whether the batch ended. The
-- decision re-reads the locked row (batch_settle), never a stale snapshot.
--   - A member's INSERT locks its batch and requires it open (not closed): otherwise the
--     statement fails with SQLSTATE TRB01, which the backend tells as BatchNotOpen, and
--     nothing of it is stored. close_batch locks the same row: a close waits for a
--     transaction that is adding members, or the adding statement sees the close.
--   - Statements that change no member's state (heartbeats, jobs without a batch) return
--     after a scan of their transition tables: the fast path pays one trigger call.
--
-- A due scheduled member is counted as scheduled (its stored state) until it is claimed;
-- readers count it as queued (jobs_batch_scheduled_idx). A batch whose retention ended
-- (expires_at, set when the closed batch ends, from the ttl given at close) is gone to every
-- read, and upkeep deletes it (sql/tidy.sql).

ALTER TABLE {schema}.jobs ADD COLUMN batch_id uuid;

-- members in order (ids are UUIDv7: creation order), and the batch's members for cancel
CREATE INDEX jobs_batch_idx ON {schema}.jobs (batch_id, id) WHERE batch_id IS NOT NULL;
-- readers: the batch's scheduled members that are due (they show as queued)
CREATE INDEX jobs_batch_scheduled_idx ON {schema}.jobs (batch_id, run_at)
    WHERE batch_id IS NOT NULL AND state = 'scheduled';

CREATE TABLE {schema}.batches (
    id             uuid        PRIMARY KEY,
    created_at     timestamptz NOT NULL DEFAULT now(),
    closed         boolean     NOT NULL DEFAULT false,
    total          integer     NOT NULL DEFAULT 0,  -- members stored
    queued         integer     NOT NULL DEFAULT 0,  -- members per stored state
    scheduled      integer     NOT NULL DEFAULT 0,
    running        integer     NOT NULL DEFAULT 0,
    succeeded      integer     NOT NULL DEFAULT 0,
    failed         integer     NOT NULL DEFAULT 0,
    cancelled      integer     NOT NULL DEFAULT 0,
    on_success     uuid,                            -- the callbacks' job ids
    on_complete    uuid,
    success_fired  boolean     NOT NULL DEFAULT false,
    complete_fired boolean     NOT NULL DEFAULT false,
    ended_at       timestamptz,                     -- closed, and no member unfinished
    ttl            float8,                          -- seconds kept after ended_at (NULL: ever)
    expires_at     timestamptz                      -- ended_at + ttl
);
-- upkeep: batches whose retention ended
CREATE INDEX batches_expiring_idx ON {schema}.batches (expires_at) WHERE expires_at IS NOT NULL;

-- The callback jobs to store (kind 'success' or 'complete'), as enqueue stores a job: the
-- columns of sql/enqueue_window.sql's input.
CREATE TABLE {schema}.batch_callbacks (
    batch_id     uuid     NOT NULL,
    kind         text     NOT NULL CHECK (kind IN ('success', 'complete')),
    id           uuid     NOT NULL,
    task         text     NOT NULL,
    queue        text     NOT NULL,
    payload      bytea    NOT NULL,
    priority     smallint NOT NULL,
    max_attempts integer  NOT NULL,
    delay        float8   NOT NULL,
    at           float8,
    limit_key    text,
    limit_max    integer  NOT NULL,
    rate_key     text,
    rate_max     integer  NOT NULL,
    rate_per     float8   NOT NULL,
    key          text,
    key_ttl      float8,
    PRIMARY KEY (batch_id, kind)
);

-- Store the callbacks of `kinds[i]` of batches ids[i] as enqueue would: a job whose id is
-- stored, or whose dedup key a live job holds, or whose dedup window is open, is not
-- stored (a key holder past its retention is deleted first: it holds no key). Wakes the
-- workers of their queues.
CREATE FUNCTION {schema}.batch_fire(ids uuid[], kinds text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    woken integer;
BEGIN
    DELETE FROM {schema}.jobs AS h
    USING {schema}.batch_callbacks AS c, unnest(ids, kinds) AS f(id, kind)
    WHERE c.batch_id = f.id AND c.kind = f.kind AND c.key IS NOT NULL AND c.key_ttl IS NULL
      AND h.queue = c.queue AND h.key = c.key AND h.expires_at <= now()
      AND h.state IN ('succeeded', 'failed', 'cancelled');
    WITH fired AS (
        SELECT c.*,
               CASE WHEN c.at IS NULL THEN now() + make_interval(secs => c.delay)
                    ELSE to_timestamp(c.at) END AS due
        FROM {schema}.batch_callbacks AS c
        JOIN unnest(ids, kinds) AS f(id, kind) ON c.batch_id = f.id AND c.kind = f.kind
    ),
    windows AS (
        INSERT INTO {schema}.dedup_windows AS w (queue, key, job_id, until)
        SELECT f.queue, f.key, f.id, now() + make_interval(secs => f.key_ttl)
        FROM fired AS f
        WHERE f.key IS NOT NULL AND f.key_ttl IS NOT NULL
        ORDER BY f.queue, f.key
        ON CONFLICT (queue, key) DO UPDATE
            SET job_id = CASE WHEN w.until <= now() THEN excluded.job_id ELSE w.job_id END,
                until = CASE WHEN w.until <= now() THEN excluded.until ELSE w.until END
        RETURNING w.job_id
    ),
    inserted AS (
        INSERT INTO {schema}.jobs (id, task, queue, state, priority, run_at, max_attempts,
                                   payload, key, limit_key, limit_max, rate_key, rate_max,
                                   rate_per)
        SELECT f.id, f.task, f.queue,
               CASE WHEN f.due <= now() THEN 'queued' ELSE 'scheduled' END,
               f.priority, f.due, f.max_attempts, f.payload,
               CASE WHEN f.key_ttl IS NULL THEN f.key END, f.limit_key, f.limit_max,
               f.rate_key, f.rate_max, f.rate_per
        FROM fired AS f
        WHERE f.key IS NULL OR f.key_ttl IS NULL
           OR f.id IN (SELECT w.job_id FROM windows AS w)
        ON CONFLICT DO NOTHING
        RETURNING queue
    )
    SELECT count(pg_notify('{queued_channel}', q.queue)) INTO woken
    FROM (SELECT DISTINCT i.queue FROM inserted AS i) AS q;
END
$$;

-- Fire what the counts of the batches `ids` call for, once each, and note their ends. The
-- caller holds their rows' locks and changed them in an earlier statement, so this
-- statement's snapshot holds their latest versions: `s` (the row as this statement found
-- it) tells exactly what was fired before. A batch ends when it is closed and no member is
-- unfinished (ended_at, and expires_at from its ttl); a member retried by hand un-ends it.
-- Waiters of a batch that ends hear its id on the finished channel.
CREATE FUNCTION {schema}.batch_settle(ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    fired uuid[];
    kinds text[];
BEGIN
    WITH seen AS (
        SELECT o.id, o.closed AND o.queued + o.scheduled + o.running = 0 AS ends,
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

-- Add moves[i] members in states[i] to the counts of batch ids[i] (their sum per batch is
-- how many members joined it: its total), and settle the batches whose counts now call for
-- it. Several batches are locked in id order first (one is locked by the UPDATE). With
-- `joining` (members stored), each batch must be open: the UPDATE passes over a closed one
-- (re-checked once its lock is ours, so a close that committed meanwhile counts), and the
-- statement fails with SQLSTATE TRB01. (plpgsql, whose plans a session keeps: a SQL
-- function would plan its statements at every call.)
CREATE FUNCTION {schema}.batch_count(ids uuid[], states text[], moves integer[],
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
            queued = b.queued + d.queued,
            scheduled = b.scheduled + d.scheduled,
            running = b.running + d.running,
            succeeded = b.succeeded + d.succeeded,
            failed = b.failed + d.failed,
            cancelled = b.cancelled + d.cancelled
        FROM (SELECT u.id, sum(u.n)::integer AS joined,
                     COALESCE(sum(u.n) FILTER (WHERE u.state = 'queued'), 0) AS queued,
                     COALESCE(sum(u.n) FILTER (WHERE u.state = 'scheduled'), 0) AS scheduled,
                     COALESCE(sum(u.n) FILTER (WHERE u.state = 'running'), 0) AS running,
                     COALESCE(sum(u.n) FILTER (WHERE u.state = 'succeeded'), 0) AS succeeded,
                     COALESCE(sum(u.n) FILTER (WHERE u.state = 'failed'), 0) AS failed,
                     COALESCE(sum(u.n) FILTER (WHERE u.state = 'cancelled'), 0) AS cancelled
              FROM unnest(ids, states, moves) AS u(id, state, n)
              GROUP BY u.id) AS d
        WHERE b.id = d.id AND NOT (joining AND b.closed)
        -- the new counts: does the batch end, un-end, or owe a callback? (batch_settle)
        RETURNING b.id, b.closed AND (
            (b.queued + b.scheduled + b.running = 0) <> (b.ended_at IS NOT NULL)
            OR b.queued + b.scheduled + b.running = 0
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

-- Members stored: counted as they were stored, into open batches only (TRB01 otherwise:
-- see batch_count).
CREATE FUNCTION {schema}.jobs_batch_stored() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
    states text[];
    moves integer[];
BEGIN
    SELECT array_agg(c.batch_id), array_agg(c.state), array_agg(c.jobs::integer)
    INTO ids, states, moves
    FROM (SELECT c.batch_id, c.state, count(*) AS jobs
          FROM changed AS c
          WHERE c.batch_id IS NOT NULL
          GROUP BY 1, 2) AS c;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM {schema}.batch_count(ids, states, moves, true);
    RETURN NULL;
END
$$;

-- Members changed: each row of the batch's members leaves its old state's count (-1) and
-- joins its new one's (+1), which cancel out where the state is the same (a heartbeat, a
-- lease renewal); a member's batch_id changed (only SQL by hand does that) moves it from
-- one batch's total to the other's. No join of the two tables is needed.
CREATE FUNCTION {schema}.jobs_batch_updated() RETURNS trigger
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
    SELECT array_agg(c.batch_id), array_agg(c.state), array_agg(c.n)
    INTO ids, states, moves
    FROM (SELECT x.batch_id, x.state, sum(x.n)::integer AS n
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

CREATE TRIGGER jobs_batch_stored AFTER INSERT ON {schema}.jobs
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_batch_stored();
CREATE TRIGGER jobs_batch_updated AFTER UPDATE ON {schema}.jobs
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_batch_updated();

-- Close the batch `batch` (unless closed already), to be kept `keep` seconds after it ends,
-- and settle it: a batch whose members all ended (or that has none) fires at once. Answers
-- its row, or none for an unknown batch or one past its retention.
CREATE FUNCTION {schema}.close_batch(batch uuid, keep float8)
RETURNS SETOF {schema}.batches
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1
    FROM {schema}.batches AS b
    WHERE b.id = batch AND (b.expires_at IS NULL OR b.expires_at > now())
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE {schema}.batches AS b SET closed = true, ttl = keep WHERE b.id = batch AND NOT b.closed;
    IF FOUND THEN
        PERFORM {schema}.batch_settle(ARRAY[batch]);
    END IF;
    RETURN QUERY SELECT * FROM {schema}.batches AS b WHERE b.id = batch;
END
$$;
