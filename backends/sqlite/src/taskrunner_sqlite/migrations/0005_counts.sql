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

-- a job that changes state within its queue (the common case: one statement), but for a
-- claim (queued to running) or a lease given back (running to queued)
CREATE TRIGGER jobs_moved AFTER UPDATE OF state ON jobs
WHEN old.state <> new.state AND old.queue = new.queue
    AND NOT (old.state IN ('queued', 'running') AND new.state IN ('queued', 'running')) BEGIN
    UPDATE queue_counts SET
        waiting = waiting + (new.state = 'waiting') - (old.state = 'waiting'),
        ready = ready + (new.state IN ('queued', 'running'))
            - (old.state IN ('queued', 'running')),
        scheduled = scheduled + (new.state = 'scheduled') - (old.state = 'scheduled'),
        succeeded = succeeded + (new.state = 'succeeded') - (old.state = 'succeeded'),
        failed = failed + (new.state = 'failed') - (old.state = 'failed'),
        cancelled = cancelled + (new.state = 'cancelled') - (old.state = 'cancelled')
    WHERE queue = new.queue;
END;

-- a job moved to another queue (only by hand: the backend never does it)
CREATE TRIGGER jobs_requeued AFTER UPDATE OF queue ON jobs
WHEN old.queue <> new.queue BEGIN
    UPDATE queue_counts SET
        waiting = waiting - (old.state = 'waiting'),
        ready = ready - (old.state IN ('queued', 'running')),
        scheduled = scheduled - (old.state = 'scheduled'),
        succeeded = succeeded - (old.state = 'succeeded'),
        failed = failed - (old.state = 'failed'),
        cancelled = cancelled - (old.state = 'cancelled')
    WHERE queue = old.queue;
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

-- the scheduled jobs by the minute they are due in: counted in, counted out
CREATE TRIGGER jobs_scheduled_counted AFTER INSERT ON jobs WHEN new.state = 'scheduled' BEGIN
    INSERT INTO scheduled_counts (queue, minute, jobs)
    VALUES (new.queue, CAST(new.run_at / 60 AS INTEGER), 1)
    ON CONFLICT (queue, minute) DO UPDATE SET jobs = jobs + 1;
END;

CREATE TRIGGER jobs_scheduled_uncounted AFTER DELETE ON jobs WHEN old.state = 'scheduled' BEGIN
    UPDATE scheduled_counts SET jobs = jobs - 1
    WHERE queue = old.queue AND minute = CAST(old.run_at / 60 AS INTEGER);
    DELETE FROM scheduled_counts
    WHERE queue = old.queue AND minute = CAST(old.run_at / 60 AS INTEGER) AND jobs = 0;
END;

CREATE TRIGGER jobs_scheduled_moved AFTER UPDATE OF state, queue, run_at ON jobs
WHEN (old.state = 'scheduled' OR new.state = 'scheduled')
    AND (old.state <> new.state OR old.queue <> new.queue
         OR CAST(old.run_at / 60 AS INTEGER) <> CAST(new.run_at / 60 AS INTEGER)) BEGIN
    UPDATE scheduled_counts SET jobs = jobs - 1
    WHERE old.state = 'scheduled' AND queue = old.queue
        AND minute = CAST(old.run_at / 60 AS INTEGER);
    DELETE FROM scheduled_counts
    WHERE old.state = 'scheduled' AND queue = old.queue
        AND minute = CAST(old.run_at / 60 AS INTEGER) AND jobs = 0;
    INSERT INTO scheduled_counts (queue, minute, jobs)
    SELECT new.queue, CAST(new.run_at / 60 AS INTEGER), 1 WHERE new.state = 'scheduled'
    ON CONFLICT (queue, minute) DO UPDATE SET jobs = jobs + 1;
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
