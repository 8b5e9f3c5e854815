-- Batches (`taskrunner.backend.Batches`): a batch's counts per state of its members move in
-- the same statement as each member's state, by the triggers below, whatever path changes
-- it. A change into or out of a finished state marks the batch `unsettled`; the write
-- transaction that made it so settles it before it commits (`batches.settle`), storing a
-- callback (kept as JSON, see `batches.encode`) once each.
ALTER TABLE jobs ADD COLUMN batch_id TEXT;
CREATE INDEX jobs_batch ON jobs (batch_id, state) WHERE batch_id IS NOT NULL;

CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    on_success TEXT,
    on_complete TEXT,
    closed INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    waiting INTEGER NOT NULL DEFAULT 0,
    queued INTEGER NOT NULL DEFAULT 0,
    scheduled INTEGER NOT NULL DEFAULT 0,
    running INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    success_fired INTEGER NOT NULL DEFAULT 0,
    complete_fired INTEGER NOT NULL DEFAULT 0,
    ended_at REAL,
    ttl REAL,
    unsettled INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX batches_unsettled ON batches (id) WHERE unsettled = 1;
CREATE INDEX batches_ending ON batches (ended_at) WHERE ended_at IS NOT NULL AND ttl IS NOT NULL;

-- the members in the order they were stored, kept when a member's record is deleted
CREATE TABLE batch_members (
    seq INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL,
    job_id TEXT NOT NULL
);
CREATE INDEX batch_members_batch ON batch_members (batch_id, seq);

CREATE TRIGGER jobs_batch_joined AFTER INSERT ON jobs WHEN new.batch_id IS NOT NULL BEGIN
    INSERT INTO batch_members (batch_id, job_id) VALUES (new.batch_id, new.id);
    UPDATE batches SET
        total = total + 1,
        waiting = waiting + (new.state = 'waiting'),
        queued = queued + (new.state = 'queued'),
        scheduled = scheduled + (new.state = 'scheduled')
    WHERE id = new.batch_id;
END;

CREATE TRIGGER jobs_batch_moved AFTER UPDATE OF state ON jobs
WHEN new.batch_id IS NOT NULL AND old.state <> new.state BEGIN
    UPDATE batches SET
        waiting = waiting + (new.state = 'waiting') - (old.state = 'waiting'),
        queued = queued + (new.state = 'queued') - (old.state = 'queued'),
        scheduled = scheduled + (new.state = 'scheduled') - (old.state = 'scheduled'),
        running = running + (new.state = 'running') - (old.state = 'running'),
        succeeded = succeeded + (new.state = 'succeeded') - (old.state = 'succeeded'),
        failed = failed + (new.state = 'failed') - (old.state = 'failed'),
        cancelled = cancelled + (new.state = 'cancelled') - (old.state = 'cancelled'),
        unsettled = unsettled OR new.state IN ('succeeded', 'failed', 'cancelled')
            OR old.state IN ('succeeded', 'failed', 'cancelled')
    WHERE id = new.batch_id;
END;

CREATE TRIGGER batches_forget_members AFTER DELETE ON batches BEGIN
    DELETE FROM batch_members WHERE batch_id = old.id;
END;
