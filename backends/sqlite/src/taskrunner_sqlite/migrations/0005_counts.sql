-- Counts per queue and state, for `stats()`: kept by the triggers below in the same
-- statement as every change of the jobs table, whatever writes it (the backend, the app's
-- own transaction, a program by hand), so reading them costs a few rows however many jobs
-- are stored.
--
-- `queue_counts` holds the jobs of each queue by their stored `state`, with the queued and
-- the running ones together in `ready`: a claim moves jobs between those two and writes no
-- count (readers count the running jobs along jobs_leases, as many as the workers run).
-- A job stored as 'scheduled' is told as queued once it is due, which happens without a
-- write: so `scheduled_counts` also counts the scheduled jobs by the minute they are due
-- in (CAST(run_at / 60 AS INTEGER)), and a reader takes the minutes after the current one
-- from there and counts the current minute's jobs still to come along jobs_scheduled (see
-- `reads.stats`). Records past their retention that reclaim has not deleted yet are
-- counted here and subtracted by the reader, along jobs_expiring.
CREATE TABLE queue_counts (
    queue TEXT PRIMARY KEY,
    waiting INTEGER NOT NULL DEFAULT 0,
    ready INTEGER NOT NULL DEFAULT 0,
    scheduled INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE scheduled_counts (
    queue TEXT NOT NULL,
    minute INTEGER NOT NULL,
    jobs INTEGER NOT NULL,
    PRIMARY KEY (queue, minute)
) WITHOUT ROWID;

CREATE TRIGGER jobs_counted AFTER INSERT ON jobs BEGIN
    INSERT INTO queue_counts (
        queue, waiting, ready, scheduled, succeeded, failed, cancelled
    ) VALUES (
        new.queue, new.state = 'waiting', new.state IN ('queued', 'running'),
        new.state = 'scheduled', new.state = 'succeeded', new.state = 'failed',
        new.state = 'cancelled'
    ) ON CONFLICT (queue) DO UPDATE SET
        waiting = waiting + excluded.waiting,
        ready = ready + excluded.ready,
        scheduled = scheduled + excluded.scheduled,
        succeeded = succeeded + excluded.succeeded,
        failed = failed + excluded.failed,
        cancelled = cancelled + excluded.cancelled;
END;

CREATE TRIGGER jobs_uncounted AFTER DELETE ON jobs BEGIN
    UPDATE queue_counts SET
        waiting = waiting - (old.state = 'waiting'),
        ready = ready - (old.state IN ('queued', 'running')),
        scheduled = scheduled - (old.state = 'scheduled'),
        succeeded = succeeded - (old.state = 'succeeded'),
        failed = failed - (old.state = 'failed'),
        cancelled = cancelled - (old.state = 'cancelled')
    WHERE queue = old.queue;
END;

-- a job that changes state, or queue (only by hand: the backend never moves a job to
-- another queue), in one statement; but for a claim (queued to running) and a lease given
-- back (running to queued), which change no count
CREATE TRIGGER jobs_moved AFTER UPDATE OF state, queue ON jobs
WHEN old.queue <> new.queue OR (old.state <> new.state
    AND NOT (old.state IN ('queued', 'running') AND new.state IN ('queued', 'running'))) BEGIN
    INSERT OR IGNORE INTO queue_counts (queue) SELECT new.queue WHERE new.queue <> old.queue;
    UPDATE queue_counts SET
        waiting = waiting + (queue = new.queue AND new.state = 'waiting')
            - (queue = old.queue AND old.state = 'waiting'),
        ready = ready + (queue = new.queue AND new.state IN ('queued', 'running'))
            - (queue = old.queue AND old.state IN ('queued', 'running')),
        scheduled = scheduled + (queue = new.queue AND new.state = 'scheduled')
            - (queue = old.queue AND old.state = 'scheduled'),
        succeeded = succeeded + (queue = new.queue AND new.state = 'succeeded')
            - (queue = old.queue AND old.state = 'succeeded'),
        failed = failed + (queue = new.queue AND new.state = 'failed')
            - (queue = old.queue AND old.state = 'failed'),
        cancelled = cancelled + (queue = new.queue AND new.state = 'cancelled')
            - (queue = old.queue AND old.state = 'cancelled')
    WHERE queue IN (old.queue, new.queue);
END;

-- The scheduled jobs by the minute they are due in. A change is written as a row of this
-- view, whose INSTEAD OF trigger adds it (`sign`: 1, a job counted in; -1, counted out)
-- and deletes a minute's row once it is empty: so the rule is written once.
CREATE VIEW scheduled_changes AS SELECT '' AS queue, 0.0 AS run_at, 0 AS sign WHERE 0;

CREATE TRIGGER scheduled_change INSTEAD OF INSERT ON scheduled_changes BEGIN
    INSERT INTO scheduled_counts (queue, minute, jobs)
    VALUES (new.queue, CAST(new.run_at / 60 AS INTEGER), new.sign)
    ON CONFLICT (queue, minute) DO UPDATE SET jobs = jobs + excluded.jobs;
    DELETE FROM scheduled_counts
    WHERE queue = new.queue AND minute = CAST(new.run_at / 60 AS INTEGER) AND jobs = 0;
END;

CREATE TRIGGER jobs_scheduled_counted AFTER INSERT ON jobs WHEN new.state = 'scheduled' BEGIN
    INSERT INTO scheduled_changes VALUES (new.queue, new.run_at, 1);
END;

CREATE TRIGGER jobs_scheduled_uncounted AFTER DELETE ON jobs WHEN old.state = 'scheduled' BEGIN
    INSERT INTO scheduled_changes VALUES (old.queue, old.run_at, -1);
END;

CREATE TRIGGER jobs_scheduled_moved AFTER UPDATE OF state, queue, run_at ON jobs
WHEN (old.state = 'scheduled' OR new.state = 'scheduled')
    AND (old.state <> new.state OR old.queue <> new.queue
         OR CAST(old.run_at / 60 AS INTEGER) <> CAST(new.run_at / 60 AS INTEGER)) BEGIN
    INSERT INTO scheduled_changes SELECT old.queue, old.run_at, -1 WHERE old.state = 'scheduled';
    INSERT INTO scheduled_changes SELECT new.queue, new.run_at, 1 WHERE new.state = 'scheduled';
END;

-- count the jobs already stored
INSERT INTO queue_counts (queue, waiting, ready, scheduled, succeeded, failed, cancelled)
SELECT queue, sum(state = 'waiting'), sum(state IN ('queued', 'running')),
    sum(state = 'scheduled'), sum(state = 'succeeded'), sum(state = 'failed'),
    sum(state = 'cancelled')
FROM jobs GROUP BY queue;

INSERT INTO scheduled_counts (queue, minute, jobs)
SELECT queue, CAST(run_at / 60 AS INTEGER), count(*) FROM jobs
WHERE state = 'scheduled' GROUP BY 1, 2;
