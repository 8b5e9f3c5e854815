-- A claim that starts past the jobs its worker already took (issue 21, target 6: the drain
-- with a million finished jobs stored).
--
-- A claimed job's entry stays in jobs_queued_idx (queue, priority, run_at, seq), pointing
-- at a dead row version, until a VACUUM removes it (see 0014), and it sorts before every job
-- still queued. claim_jobs read the index from each queue's start, so every claim read the
-- leaf pages of every job claimed since the last VACUUM (about 5,500 pages, 40-90 ms, with a
-- million of them: never cleaned on a server with autovacuum off, a minute's worth with it).
--
-- claim_marked takes, per queue, a mark: the claim key (priority, run_at, seq) of the
-- greatest job the calling backend claimed from that queue's queued scan (the Python side
-- keeps it: taskrunner_postgres/claiming.py). For a queue with a mark (p, r, s) the queued
-- scan reads two ranges of the index, each a plain btree range scan: `priority < p` (better
-- priorities, always from their start: a new high-priority job is never passed over) and
-- `(priority, run_at, seq) > (p, r, s)` (the row comparison is the scan's start bound).
-- Both are ordered and limited together as before. A queue without a mark is read from its
-- start, as claim_jobs read it.
--
-- A mark is a hint, never a bound on what is claimed: a job can become queued below it (a
-- released hold, a met dependency, a reclaim, a requeue, an explicit past run_at, another
-- claim that rolled back, a flowed candidate another claim was deciding about). So a round
-- whose marked scan finds fewer candidates than it needs is followed, in the same call, by
-- rounds that read every queue from its start (a queue that looks empty is always read
-- whole), and the caller passes no marks at least once a second (FULL_SCAN_EVERY). The
-- cost: under a backlog a job below the mark may be claimed up to that long after newer
-- jobs of its queue. Nothing is skipped for good, nothing is claimed twice (the rows are
-- still locked and updated as before).
--
-- It answers the claimed jobs and, per round and queue, a row that is no job: its id is
-- NULL, and its queue, priority, run_at and seq are the queue's new mark, the key of the
-- greatest of the round's plain jobs (no limit or rate key) that came from the queued scan.
-- Jobs from the scheduled scan (their keys say nothing of the queued index's head) and
-- flowed ones (claim_flowed may pass candidates before them over) never set a mark. These
-- rows keep the jobs' own rows as claim_jobs returned them (a composite column beside a
-- flag cost the drain about 17% more server instructions per job, in field reads).
-- The candidates carry their queue last, and the search for each queue's greatest sorts
-- (priority, run_at, seq, queue): with the fixed-width keys first the sorts read them at
-- cached offsets.
--
-- The body is claim_jobs' (0007, 0013) otherwise. claim_jobs keeps its signature (workers
-- of an older version call it during a rolling deploy) and becomes claim_marked without
-- marks.
CREATE FUNCTION {schema}.claim_marked(
    queues text[], wanted integer, worker text, lease float8,
    mark_queues text[], mark_priorities smallint[], mark_run_ats timestamptz[],
    mark_seqs bigint[])
RETURNS SETOF {schema}.jobs
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    marked boolean := cardinality(mark_queues) > 0;  -- rounds read past the marks
    opening boolean;
    taken integer := 0;
    need integer;
    claimed integer;
    seen integer;
    plain {schema}.jobs[];
    marking {schema}.jobs[];  -- the rows that carry the marks
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
            SELECT q.name, m.priority, m.run_at, m.seq
            FROM unnest(queues) AS q(name)
            LEFT JOIN unnest(mark_queues, mark_priorities, mark_run_ats, mark_seqs)
                AS m(queue, priority, run_at, seq) ON m.queue = q.name AND marked
            WHERE NOT EXISTS (SELECT 1 FROM {schema}.paused_queues AS p WHERE p.queue = q.name)
        ),
        candidates AS (
            SELECT c.*
            FROM (SELECT c.*, true AS scanned
                  FROM open_queues AS q
                  CROSS JOIN LATERAL (
                      SELECT j.id, j.priority, j.run_at, j.seq, j.limit_key, j.rate_key, j.queue
                      FROM {schema}.jobs AS j
                      WHERE j.state = 'queued' AND j.held IS NULL AND j.queue = q.name
                        AND j.priority < COALESCE(q.priority, 32768)
                        AND j.id <> ALL(passed)
                      ORDER BY j.priority, j.run_at, j.seq
                      LIMIT need
                      FOR UPDATE SKIP LOCKED
                  ) AS c
                  UNION ALL
                  SELECT c.*, true AS scanned
                  FROM open_queues AS q
                  CROSS JOIN LATERAL (
                      SELECT j.id, j.priority, j.run_at, j.seq, j.limit_key, j.rate_key, j.queue
                      FROM {schema}.jobs AS j
                      WHERE q.priority IS NOT NULL
                        AND j.state = 'queued' AND j.held IS NULL AND j.queue = q.name
                        AND (j.priority, j.run_at, j.seq) > (q.priority, q.run_at, q.seq)
                        AND j.id <> ALL(passed)
                      ORDER BY j.priority, j.run_at, j.seq
                      LIMIT need
                      FOR UPDATE SKIP LOCKED
                  ) AS c
                  UNION ALL
                  SELECT c.*, false AS scanned
                  FROM open_queues AS q
                  CROSS JOIN LATERAL (
                      SELECT j.id, j.priority, j.run_at, j.seq, j.limit_key, j.rate_key, j.queue
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
                started_at = clock_timestamp(),
                lease_until = now() + make_interval(secs => lease),
                worker = claim_marked.worker,
                cancel_requested = false
            FROM candidates AS c
            WHERE j.id = c.id AND c.limit_key IS NULL AND c.rate_key IS NULL
            RETURNING j AS job
        )
        SELECT (SELECT array_agg(k.job) FROM claimed AS k),
               (SELECT array_agg(jsonb_populate_record(NULL::{schema}.jobs, to_jsonb(m)))
                FROM (SELECT DISTINCT ON (c.queue) c.priority, c.run_at, c.seq, c.queue
                      FROM candidates AS c
                      WHERE c.scanned AND c.limit_key IS NULL AND c.rate_key IS NULL
                      ORDER BY c.queue, c.priority DESC, c.run_at DESC, c.seq DESC) AS m),
               array_agg(c.id ORDER BY c.priority, c.run_at, c.seq)
                   FILTER (WHERE c.limit_key IS NOT NULL OR c.rate_key IS NOT NULL),
               count(*),
               rounds = 0 AND EXISTS (
                   SELECT 1
                   FROM open_queues AS q
                   JOIN {schema}.rate_windows AS w ON w.queue = q.name
                   WHERE w.opens_at <= now())
        INTO plain, marking, flowed, seen, opening
        FROM candidates AS c;
        RETURN QUERY SELECT * FROM unnest(plain);
        GET DIAGNOSTICS claimed = ROW_COUNT;
        taken := taken + claimed;
        RETURN QUERY SELECT * FROM unnest(marking);
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
        EXIT WHEN taken >= wanted OR rounds >= 1000;
        IF marked AND seen < need THEN
            -- the marked scan came up short: what is left may sit below the marks
            marked := false;
            CONTINUE;
        END IF;
        EXIT WHEN seen < need AND NOT retry AND NOT opening
                  OR flowed IS NULL AND NOT opening;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION {schema}.claim_jobs(
    queues text[], wanted integer, worker text, lease float8)
RETURNS SETOF {schema}.jobs
LANGUAGE sql AS $$
    SELECT c.*
    FROM {schema}.claim_marked(queues, wanted, worker, lease, '{}', '{}', '{}', '{}') AS c
    WHERE c.id IS NOT NULL
$$;
