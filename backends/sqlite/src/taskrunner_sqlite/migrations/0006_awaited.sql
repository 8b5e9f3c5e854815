-- The end of a job that others wait on is noted in `ended` (0003_dependencies.sql); finding
-- out whether any job waits on it took a lookup in `waits` on every end of every job. A
-- job now carries `awaited` = 1 from the first time one is stored waiting on it (the
-- trigger on `waits`, whatever inserts the row), and the end of a job never awaited skips
-- the lookup. Cost: a job that others wait on is written once more, when the first one
-- starts waiting on it. A job deleted while others still waited on it (a purge of
-- unfinished jobs) leaves them waiting, as before; a later job given the same id starts
-- unflagged, so its end no longer releases them.
ALTER TABLE jobs ADD COLUMN awaited INTEGER NOT NULL DEFAULT 0;

UPDATE jobs SET awaited = 1 WHERE id IN (SELECT dependency FROM waits);

CREATE TRIGGER waits_flag_dependency AFTER INSERT ON waits BEGIN
    UPDATE jobs SET awaited = 1 WHERE id = new.dependency AND awaited = 0;
END;

DROP TRIGGER jobs_dependency_ended;

CREATE TRIGGER jobs_dependency_ended AFTER UPDATE OF state ON jobs
WHEN new.awaited AND new.state IN ('succeeded', 'failed', 'cancelled')
    AND old.state NOT IN ('succeeded', 'failed', 'cancelled')
    AND EXISTS (SELECT 1 FROM waits WHERE dependency = new.id) BEGIN
    INSERT INTO ended (job_id, state) VALUES (new.id, new.state);
END;
