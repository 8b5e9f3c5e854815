-- Dependencies (`taskrunner.backend.Dependencies`): `waits` holds, for each job stored with
-- `after`, a row per dependency that had not ended when it was stored. A dependency's
-- first end while jobs wait on it is noted in `ended` by the trigger below; the write
-- transaction that ended it judges those jobs before it commits (`judge.judge`), and a job
-- that this cancels is noted in turn. A judged dependency's rows are deleted: each
-- dependency is judged by its first end.
ALTER TABLE jobs ADD COLUMN after TEXT;  -- the ids of its dependencies, a JSON array
ALTER TABLE jobs ADD COLUMN after_run_anyway INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN after_ttl REAL;

CREATE TABLE waits (
    seq INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    dependency TEXT NOT NULL
);
CREATE INDEX waits_dependency ON waits (dependency, seq);
CREATE INDEX waits_job ON waits (job_id);

CREATE TABLE ended (
    seq INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    state TEXT NOT NULL
);

CREATE TRIGGER jobs_dependency_ended AFTER UPDATE OF state ON jobs
WHEN new.state IN ('succeeded', 'failed', 'cancelled')
    AND old.state NOT IN ('succeeded', 'failed', 'cancelled')
    AND EXISTS (SELECT 1 FROM waits WHERE dependency = new.id) BEGIN
    INSERT INTO ended (job_id, state) VALUES (new.id, new.state);
END;

CREATE TRIGGER jobs_forget_waits AFTER DELETE ON jobs WHEN old.after IS NOT NULL BEGIN
    DELETE FROM waits WHERE job_id = old.id;
END;
