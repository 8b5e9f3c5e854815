-- Flow control: concurrency limits and rate limits per key, judged by the claim (issue 14).
--
-- A job may carry a limit key (at most limit_max of its queue's jobs with that key run at
-- once) and a rate key (at most rate_max of its queue's jobs with that key start in any
-- rate_per seconds). A claim that finds a job's key full sets the job aside: it stays
-- 'queued' (so every count, trigger and listing treats it as queued) with `held` saying why,
-- and leaves the claim's index, so that 10,000 held jobs of one key cost later claims
-- nothing. Held jobs come back when a slot frees (finish, reclaim, cancel, purge: see
-- release_limits) or when the key's rate window opens (rate_windows.opens_at, checked by
-- every claim and counted by next_due.sql).
--
-- Locking. In READ COMMITTED one statement reads one snapshot, so counting running jobs and
-- claiming in one statement would race with a concurrent claim. Every decision about a key
-- is made under a transaction-level advisory lock of (schema, kind, queue, key) (flow_lock),
-- and the counting is done by a statement that starts after the lock is taken: each
-- statement of a VOLATILE plpgsql function reads a fresh snapshot, which sees every
-- transaction that held the lock before (a lock is given up only after its commit is
-- visible).
--   - Claims only TRY the lock: a key another transaction is deciding about is passed over
--     by this claim (its jobs stay in the claim index for the next one). So a claim never
--     waits on anything, and there is no lock order to keep among claims.
--   - Finish, reclaim, cancel and purge release held jobs: they WAIT for the lock (taking
--     the keys of one statement in sorted order; they wait on no row lock while holding one
--     of these, and pass over locked held rows), count running jobs afresh and release the
--     best `limit_max - running` held jobs. A claim that sets a job aside holds the key's
--     lock until it commits, so a release either runs after that commit (and sees the held
--     job) or commits before the claim counts (and the claim sees the free slot): a held
--     job is never left behind a free slot.
-- A claim holds a job only when, under the lock and after its own claims, the key is still
-- full for that job's own numbers; otherwise it leaves it in the claim index. Releasing too
-- many is harmless (the next claim sets them aside again).
--
-- Rate limits are an exact sliding window: rate_windows keeps the newest rate_max start
-- times of each (queue, key); a start is allowed while fewer than rate_max of them are
-- newer than now - rate_per. While jobs of a key are held for its rate, opens_at says when
-- the window opens again.
--
-- Under REPEATABLE READ or SERIALIZABLE as the server's default isolation the fresh
-- snapshots above do not happen: the backend's statements expect READ COMMITTED.

ALTER TABLE {schema}.jobs
    ADD COLUMN limit_key text,
    ADD COLUMN limit_max integer NOT NULL DEFAULT 0,
    ADD COLUMN rate_key text,
    ADD COLUMN rate_max integer NOT NULL DEFAULT 0,
    ADD COLUMN rate_per float8 NOT NULL DEFAULT 0,
    ADD COLUMN held text CHECK (held IN ('limit', 'rate')),
    ADD CONSTRAINT jobs_held_queued CHECK (held IS NULL OR state = 'queued');

-- claim: due jobs of one queue in claim order, without the held ones
DROP INDEX {schema}.jobs_queued_idx;
CREATE INDEX jobs_queued_idx ON {schema}.jobs (queue, priority, run_at, seq)
    WHERE state = 'queued' AND held IS NULL;
-- claim and release: the running jobs of a limit key
CREATE INDEX jobs_running_limit_idx ON {schema}.jobs (queue, limit_key)
    WHERE state = 'running' AND limit_key IS NOT NULL;
-- claim: the other due jobs of a full key, set aside together
CREATE INDEX jobs_queued_limit_idx ON {schema}.jobs (queue, limit_key)
    WHERE state = 'queued' AND held IS NULL AND limit_key IS NOT NULL;
CREATE INDEX jobs_queued_rate_idx ON {schema}.jobs (queue, rate_key)
    WHERE state = 'queued' AND held IS NULL AND rate_key IS NOT NULL;
-- release: the held jobs of one key, in claim order
CREATE INDEX jobs_held_limit_idx ON {schema}.jobs (queue, limit_key, priority, run_at, seq)
    WHERE held = 'limit';
CREATE INDEX jobs_held_rate_idx ON {schema}.jobs (queue, rate_key, priority, run_at, seq)
    WHERE held = 'rate';

-- The newest start times (ascending, at most rate_max of the jobs that started) per rate
-- key; while jobs of the key are held for it, when its window opens again; and when its
-- last start leaves every window (after which upkeep forgets the row: sql/tidy.sql).
CREATE TABLE {schema}.rate_windows (
    queue    text          NOT NULL,
    key      text          NOT NULL,
    starts   timestamptz[] NOT NULL DEFAULT '{}',
    opens_at timestamptz,
    quiet_at timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (queue, key)
);
-- claim and next_due: the windows due to open, per queue
CREATE INDEX rate_windows_opening_idx ON {schema}.rate_windows (queue, opens_at)
    WHERE opens_at IS NOT NULL;

-- The advisory lock of a limit or rate key (kind 'limit' or 'rate') of a queue of this
-- schema. Two keys may share a lock: that only makes them wait on (or pass over) each other.
CREATE FUNCTION {schema}.flow_lock(kind text, queue text, key text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (hashtext('{schema}:' || kind || ':' || queue)::bigint << 32)
           | (hashtext(key)::bigint & 4294967295)
$$;

-- When a job with these numbers may start, given a key's start times: -infinity while
-- fewer than rate_max of them count, else when the rate_max-th newest leaves the window.
CREATE FUNCTION {schema}.rate_opens(starts timestamptz[], rate_max integer, rate_per float8)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(
        (SELECT s.at FROM unnest(starts) AS s(at) ORDER BY s.at DESC OFFSET rate_max - 1 LIMIT 1)
            + make_interval(secs => rate_per),
        '-infinity')
$$;

-- The newest `keep` start times of `starts`, ascending.
CREATE FUNCTION {schema}.rate_keep(starts timestamptz[], keep integer) RETURNS timestamptz[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(array_agg(n.at ORDER BY n.at), '{}')
    FROM (SELECT s.at FROM unnest(starts) AS s(at) ORDER BY s.at DESC LIMIT keep) AS n
$$;

-- Release held jobs of the limit keys (queues[i], keys[i]) (NULL keys are skipped): under
-- each key's lock, taken in order, as many of the best held jobs as the best one's
-- limit_max leaves free beside the running jobs (not counting `ended`, jobs the calling
-- statement just moved out of running, whether or not this snapshot sees that). Held rows
-- another statement holds are passed over: it is cancelling or deleting them. Wakes the
-- workers of the queues that got jobs back. Answers how many jobs were released.
CREATE FUNCTION {schema}.release_limits(queues text[], keys text[], ended uuid[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    k record;
    room integer;
    moved integer;
    total integer := 0;
BEGIN
    FOR k IN
        SELECT DISTINCT u.queue, u.key, {schema}.flow_lock('limit', u.queue, u.key) AS lock_id
        FROM unnest(queues, keys) AS u(queue, key)
        WHERE u.key IS NOT NULL
        ORDER BY 3, 1, 2
    LOOP
        PERFORM pg_advisory_xact_lock(k.lock_id);
        SELECT h.limit_max - (
                   SELECT count(*)
                   FROM {schema}.jobs AS r
                   WHERE r.state = 'running' AND r.queue = k.queue AND r.limit_key = k.key
                     AND r.id <> ALL(COALESCE(ended, '{}')))
        INTO room
        FROM {schema}.jobs AS h
        WHERE h.held = 'limit' AND h.queue = k.queue AND h.limit_key = k.key
        ORDER BY h.priority, h.run_at, h.seq
        LIMIT 1;
        CONTINUE WHEN room IS NULL OR room <= 0;
        UPDATE {schema}.jobs AS j
        SET held = NULL
        FROM (SELECT h.id
              FROM {schema}.jobs AS h
              WHERE h.held = 'limit' AND h.queue = k.queue AND h.limit_key = k.key
              ORDER BY h.priority, h.run_at, h.seq
              LIMIT room
              FOR UPDATE SKIP LOCKED) AS best
        WHERE j.id = best.id;
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved > 0 THEN
            PERFORM pg_notify('{queued_channel}', k.queue);
            total := total + moved;
        END IF;
    END LOOP;
    RETURN total;
END
$$;

-- Open the rate windows of the queues `names` (those not paused) whose time has come: under each key's lock
-- (tried: a key another claim decides about is left for the next claim), release as many
-- of the best held jobs as the window has room for (by the numbers of the best one), and
-- set when it opens next if jobs stay held (counting the released ones as started now),
-- else forget the opening.
CREATE FUNCTION {schema}.open_rate_windows(names text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    w record;
    best record;
    window_starts timestamptz[];
    room integer;
    moved integer;
BEGIN
    FOR w IN
        SELECT r.queue, r.key
        FROM {schema}.rate_windows AS r
        WHERE r.queue = ANY(names) AND r.opens_at <= now()
          AND NOT EXISTS (SELECT 1 FROM {schema}.paused_queues AS p WHERE p.queue = r.queue)
        ORDER BY r.opens_at
        LIMIT 100
    LOOP
        CONTINUE WHEN NOT pg_try_advisory_xact_lock({schema}.flow_lock('rate', w.queue, w.key));
        SELECT r.starts INTO window_starts
        FROM {schema}.rate_windows AS r
        WHERE r.queue = w.queue AND r.key = w.key AND r.opens_at <= now();
        CONTINUE WHEN NOT FOUND;  -- opened by a claim that held the lock before
        SELECT h.rate_max, h.rate_per INTO best
        FROM {schema}.jobs AS h
        WHERE h.held = 'rate' AND h.queue = w.queue AND h.rate_key = w.key
        ORDER BY h.priority, h.run_at, h.seq
        LIMIT 1;
        room := CASE WHEN best IS NULL THEN 0 ELSE best.rate_max - (
            SELECT count(*) FROM unnest(window_starts) AS s(at)
            WHERE s.at > now() - make_interval(secs => best.rate_per)) END;
        moved := 0;
        IF room > 0 THEN
            UPDATE {schema}.jobs AS j
            SET held = NULL
            FROM (SELECT h.id
                  FROM {schema}.jobs AS h
                  WHERE h.held = 'rate' AND h.queue = w.queue AND h.rate_key = w.key
                  ORDER BY h.priority, h.run_at, h.seq
                  LIMIT room
                  FOR UPDATE SKIP LOCKED) AS chosen
            WHERE j.id = chosen.id;
            GET DIAGNOSTICS moved = ROW_COUNT;
        END IF;
        UPDATE {schema}.rate_windows AS r
        SET opens_at = CASE
            WHEN NOT EXISTS (SELECT 1 FROM {schema}.jobs AS h
                             WHERE h.held = 'rate' AND h.queue = w.queue AND h.rate_key = w.key)
            THEN NULL
            ELSE greatest(now(), {schema}.rate_opens(
                window_starts || array_fill(now(), ARRAY[moved]), best.rate_max, best.rate_per)) END
        WHERE r.queue = w.queue AND r.key = w.key;
    END LOOP;
END
$$;

-- Set aside the refused candidates `ids` whose limit key is still full for their own
-- limit_max (counted afresh, after this claim's own claims, under the key's lock, which the
-- caller holds), then up to 1,000 more of those keys' due jobs that could not run either,
-- so that later claims do not read them one batch at a time. Answers how many of `ids` were
-- set aside: the others were refused only because a candidate before them was expected to
-- take the slot (and did not: its rate window was closed), and may be claimed now.
CREATE FUNCTION {schema}.hold_limited(ids uuid[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    held integer;
BEGIN
    UPDATE {schema}.jobs AS j
    SET held = 'limit', state = 'queued'
    WHERE j.id = ANY(ids)
      AND j.limit_max <= (SELECT count(*)
                          FROM {schema}.jobs AS r
                          WHERE r.state = 'running' AND r.queue = j.queue
                            AND r.limit_key = j.limit_key);
    GET DIAGNOSTICS held = ROW_COUNT;
    UPDATE {schema}.jobs AS j
    SET held = 'limit'
    FROM (SELECT x.id
          FROM (SELECT DISTINCT h.queue, h.limit_key
                FROM {schema}.jobs AS h
                WHERE h.id = ANY(ids) AND h.held = 'limit') AS k
          CROSS JOIN LATERAL (
              SELECT count(*) AS jobs
              FROM {schema}.jobs AS r
              WHERE r.state = 'running' AND r.queue = k.queue AND r.limit_key = k.limit_key
          ) AS busy
          CROSS JOIN LATERAL (
              SELECT x.id
              FROM {schema}.jobs AS x
              WHERE x.state = 'queued' AND x.held IS NULL AND x.limit_key IS NOT NULL
                AND x.queue = k.queue AND x.limit_key = k.limit_key
                AND x.limit_max <= busy.jobs
              LIMIT 1000
              FOR UPDATE SKIP LOCKED
          ) AS x) AS more
    WHERE j.id = more.id;
    RETURN held;
END
$$;

-- Set aside the refused candidates `ids` whose rate window is still closed for their own
-- numbers (the caller holds the keys' locks and recorded its own starts), note when each
-- window opens, then set aside up to 1,000 more of those keys' due jobs that could not
-- start either.
CREATE FUNCTION {schema}.hold_rated(ids uuid[], decided_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH refused AS (
        SELECT j.id, j.queue, j.rate_key,
               {schema}.rate_opens(w.starts, j.rate_max, j.rate_per) AS opens
        FROM {schema}.jobs AS j
        JOIN {schema}.rate_windows AS w ON w.queue = j.queue AND w.key = j.rate_key
        WHERE j.id = ANY(ids)
    ),
    held AS (
        UPDATE {schema}.jobs AS j
        SET held = 'rate', state = 'queued'
        FROM refused AS r
        WHERE j.id = r.id AND r.opens > decided_at
        RETURNING r.queue, r.rate_key, r.opens
    )
    UPDATE {schema}.rate_windows AS w
    SET opens_at = least(w.opens_at, h.opens)
    FROM (SELECT h.queue, h.rate_key, min(h.opens) AS opens
          FROM held AS h
          GROUP BY h.queue, h.rate_key) AS h
    WHERE w.queue = h.queue AND w.key = h.rate_key;
    UPDATE {schema}.jobs AS j
    SET held = 'rate'
    FROM (SELECT x.id
          FROM (SELECT DISTINCT h.queue, h.rate_key
                FROM {schema}.jobs AS h
                WHERE h.id = ANY(ids) AND h.held = 'rate') AS k
          JOIN {schema}.rate_windows AS w ON w.queue = k.queue AND w.key = k.rate_key
          CROSS JOIN LATERAL (
              SELECT x.id
              FROM {schema}.jobs AS x
              WHERE x.state = 'queued' AND x.held IS NULL AND x.rate_key IS NOT NULL
                AND x.queue = k.queue AND x.rate_key = k.rate_key
                AND {schema}.rate_opens(w.starts, x.rate_max, x.rate_per) > decided_at
              LIMIT 1000
              FOR UPDATE SKIP LOCKED
          ) AS x) AS more
    WHERE j.id = more.id;
END
$$;

-- Claim what may be claimed of the candidates `ids` (locked by the caller, in claim order),
-- all of which carry a limit key or a rate key, for `worker` with a lease of `lease`
-- seconds. First the limit keys are locked (tried), and, in a statement after that, each
-- candidate fits when its rank among the candidates of its key leaves it within its
-- limit_max beside the running jobs. Of those, the same for rate keys against their
-- windows. The jobs that pass both are claimed (`claimed`), their starts recorded, and the
-- refused ones set aside (see hold_limited, hold_rated). Candidates of a key whose lock
-- another transaction holds are left as they are (`passed`). `retry` says that some
-- refused by their limit were not set aside (see hold_limited): the caller tries again.
CREATE FUNCTION {schema}.claim_flowed(
    ids uuid[], worker text, lease float8,
    OUT claimed {schema}.jobs[], OUT passed uuid[], OUT retry boolean)
LANGUAGE plpgsql AS $$
DECLARE
    locks bigint[];
    fit uuid[];
    full_limit uuid[];
    go uuid[];
    full_rate uuid[];
    busy_rate uuid[];
    decided_at timestamptz;  -- the time of the rate decisions, and of the starts
BEGIN
    SELECT COALESCE(array_agg(k.lock_id), '{}') INTO locks
    FROM (SELECT DISTINCT {schema}.flow_lock('limit', j.queue, j.limit_key) AS lock_id
          FROM {schema}.jobs AS j
          WHERE j.id = ANY(ids) AND j.limit_key IS NOT NULL) AS k
    WHERE pg_try_advisory_xact_lock(k.lock_id);
    SELECT array_agg(c.id ORDER BY c.ord)
               FILTER (WHERE c.limit_key IS NULL OR c.mine AND c.rank <= c.limit_max - c.busy),
           array_agg(c.id) FILTER (WHERE c.mine AND c.rank > c.limit_max - c.busy),
           COALESCE(array_agg(c.id) FILTER (WHERE c.limit_key IS NOT NULL AND NOT c.mine), '{}')
    INTO fit, full_limit, passed
    FROM (SELECT u.ord, j.id, j.limit_key, j.limit_max,
                 {schema}.flow_lock('limit', j.queue, j.limit_key) = ANY(locks) AS mine,
                 row_number() OVER (PARTITION BY j.queue, j.limit_key ORDER BY u.ord) AS rank,
                 (SELECT count(*)
                  FROM {schema}.jobs AS r
                  WHERE r.state = 'running' AND r.queue = j.queue
                    AND r.limit_key = j.limit_key) AS busy
          FROM unnest(ids) WITH ORDINALITY AS u(id, ord)
          JOIN {schema}.jobs AS j ON j.id = u.id) AS c;

    SELECT COALESCE(array_agg(k.lock_id), '{}') INTO locks
    FROM (SELECT DISTINCT {schema}.flow_lock('rate', j.queue, j.rate_key) AS lock_id
          FROM {schema}.jobs AS j
          WHERE j.id = ANY(fit) AND j.rate_key IS NOT NULL) AS k
    WHERE pg_try_advisory_xact_lock(k.lock_id);
    decided_at := clock_timestamp();
    SELECT array_agg(c.id)
               FILTER (WHERE c.rate_key IS NULL OR c.mine AND c.rank <= c.rate_max - c.recent),
           array_agg(c.id) FILTER (WHERE c.mine AND c.rank > c.rate_max - c.recent),
           COALESCE(array_agg(c.id) FILTER (WHERE c.rate_key IS NOT NULL AND NOT c.mine), '{}')
    INTO go, full_rate, busy_rate
    FROM (SELECT u.ord, j.id, j.rate_key, j.rate_max,
                 {schema}.flow_lock('rate', j.queue, j.rate_key) = ANY(locks) AS mine,
                 row_number() OVER (PARTITION BY j.queue, j.rate_key ORDER BY u.ord) AS rank,
                 (SELECT count(*)
                  FROM {schema}.rate_windows AS w, unnest(w.starts) AS s(at)
                  WHERE w.queue = j.queue AND w.key = j.rate_key
                    AND s.at > decided_at - make_interval(secs => j.rate_per)) AS recent
          FROM unnest(fit) WITH ORDINALITY AS u(id, ord)
          JOIN {schema}.jobs AS j ON j.id = u.id) AS c;
    passed := passed || busy_rate;

    WITH taken AS (
        UPDATE {schema}.jobs AS j
        SET state = 'running',
            attempt = j.attempt + 1,
            started_at = decided_at,
            lease_until = decided_at + make_interval(secs => lease),
            worker = claim_flowed.worker,
            cancel_requested = false,
            held = NULL
        WHERE j.id = ANY(go)
        RETURNING j AS job
    )
    SELECT array_agg(t.job) INTO claimed FROM taken AS t;
    INSERT INTO {schema}.rate_windows AS w (queue, key, starts, quiet_at)
    SELECT g.queue, g.rate_key,
           {schema}.rate_keep(
               COALESCE(o.starts, '{}') || array_fill(decided_at, ARRAY[g.jobs]), g.keep),
           greatest(o.quiet_at, decided_at + make_interval(secs => g.per))
    FROM (SELECT j.queue, j.rate_key, count(*)::integer AS jobs, max(j.rate_max) AS keep,
                 max(j.rate_per) AS per
          FROM {schema}.jobs AS j
          WHERE j.id = ANY(go) AND j.rate_key IS NOT NULL
          GROUP BY j.queue, j.rate_key) AS g
    LEFT JOIN {schema}.rate_windows AS o ON o.queue = g.queue AND o.key = g.rate_key
    ON CONFLICT (queue, key) DO UPDATE
        SET starts = excluded.starts, quiet_at = excluded.quiet_at;

    retry := full_limit IS NOT NULL
             AND {schema}.hold_limited(full_limit) < cardinality(full_limit);
    IF full_rate IS NOT NULL THEN
        PERFORM {schema}.hold_rated(full_rate, decided_at);
        -- those whose window opened meanwhile (a job with other numbers) wait for the next
        SELECT passed || COALESCE(array_agg(j.id), '{}') INTO passed
        FROM {schema}.jobs AS j
        WHERE j.id = ANY(full_rate) AND j.held IS NULL;
    END IF;
END
$$;

-- The claim (sql/claim.sql): up to `wanted` due jobs of the queues `queues` that are not
-- paused, for `worker`, with a lease of `lease` seconds, best first (lowest priority
-- number, then earliest due, then first enqueued). In rounds: the best candidates left are
-- read from each queue's partial indexes (queued jobs that are not held, and scheduled jobs
-- now due), skipping rows other claims are taking; those without a limit or rate key are
-- claimed at once (the fast path: one statement, as before limits), the others go through
-- claim_flowed. A round that set jobs aside or passed them over is followed by another for
-- the places left, until `wanted` are claimed or no candidate is left. The first round also
-- tells whether a rate window of these queues is due to open: then it is opened
-- (open_rate_windows) and the jobs it brings back are claimed in the rounds that follow.
-- Its statements run on generic plans: a custom plan (which the plan cache keeps choosing,
-- as it cannot tell how small `need` is) costs more to make than to run, and the plan is
-- the same for every number of jobs a claim asks for: index scans in claim order.
CREATE FUNCTION {schema}.claim_jobs(queues text[], wanted integer, worker text, lease float8)
RETURNS SETOF {schema}.jobs
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    opening boolean;
    taken integer := 0;
    need integer;
    claimed integer;
    seen integer;
    plain {schema}.jobs[];
    flowed uuid[];
    passed uuid[] := '{}';  -- flowed candidates whose key another transaction decides
    more uuid[];
    retry boolean;
    rounds integer := 0;  -- every round decides some candidate; this only bounds the worst
BEGIN
    LOOP
        need := wanted - taken;
        retry := false;
        WITH open_queues AS (
            SELECT q.name
            FROM unnest(queues) AS q(name)
            WHERE NOT EXISTS (SELECT 1 FROM {schema}.paused_queues AS p WHERE p.queue = q.name)
        ),
        candidates AS (
            SELECT c.*
            FROM (SELECT c.*
                  FROM open_queues AS q
                  CROSS JOIN LATERAL (
                      SELECT j.id, j.priority, j.run_at, j.seq, j.limit_key, j.rate_key
                      FROM {schema}.jobs AS j
                      WHERE j.state = 'queued' AND j.held IS NULL AND j.queue = q.name
                        AND j.id <> ALL(passed)
                      ORDER BY j.priority, j.run_at, j.seq
                      LIMIT need
                      FOR UPDATE SKIP LOCKED
                  ) AS c
                  UNION ALL
                  SELECT c.*
                  FROM open_queues AS q
                  CROSS JOIN LATERAL (
                      SELECT j.id, j.priority, j.run_at, j.seq, j.limit_key, j.rate_key
                      FROM {schema}.jobs AS j
                      WHERE j.state = 'scheduled' AND j.queue = q.name AND j.run_at <= now()
                        AND j.id <> ALL(passed)
                      ORDER BY j.run_at
                      LIMIT need
                      FOR UPDATE SKIP LOCKED
                  ) AS c) AS c
            ORDER BY c.priority, c.run_at, c.seq
            LIMIT need
        ),
        claimed AS (
            UPDATE {schema}.jobs AS j
            SET state = 'running',
                attempt = j.attempt + 1,
                started_at = now(),
                lease_until = now() + make_interval(secs => lease),
                worker = claim_jobs.worker,
                cancel_requested = false
            FROM candidates AS c
            WHERE j.id = c.id AND c.limit_key IS NULL AND c.rate_key IS NULL
            RETURNING j AS job
        )
        SELECT (SELECT array_agg(k.job) FROM claimed AS k),
               array_agg(c.id ORDER BY c.priority, c.run_at, c.seq)
                   FILTER (WHERE c.limit_key IS NOT NULL OR c.rate_key IS NOT NULL),
               count(*),
               rounds = 0 AND EXISTS (
                   SELECT 1
                   FROM open_queues AS q
                   JOIN {schema}.rate_windows AS w ON w.queue = q.name
                   WHERE w.opens_at <= now())
        INTO plain, flowed, seen, opening
        FROM candidates AS c;
        RETURN QUERY SELECT * FROM unnest(plain);
        GET DIAGNOSTICS claimed = ROW_COUNT;
        taken := taken + claimed;
        rounds := rounds + 1;
        IF opening THEN
            PERFORM {schema}.open_rate_windows(queues);
        END IF;
        IF flowed IS NOT NULL THEN
            SELECT f.claimed, f.passed, f.retry INTO plain, more, retry
            FROM {schema}.claim_flowed(flowed, worker, lease) AS f;
            RETURN QUERY SELECT * FROM unnest(plain);
            GET DIAGNOSTICS claimed = ROW_COUNT;
            taken := taken + claimed;
            passed := passed || more;
        END IF;
        EXIT WHEN taken >= wanted OR rounds >= 1000
                  OR seen < need AND NOT retry AND NOT opening
                  OR flowed IS NULL AND NOT opening;
    END LOOP;
END
$$;
