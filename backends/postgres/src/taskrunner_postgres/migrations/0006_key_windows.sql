-- Dedup windows: a job enqueued with a key_ttl holds its (queue, key) here, naming it, until
-- the window closes, whatever becomes of the job (see sql/enqueue_window.sql). Closed
-- windows are taken over by the next enqueue, and forgotten by upkeep (sql/tidy.sql).
CREATE TABLE {schema}.dedup_windows (
    queue text NOT NULL,
    key text NOT NULL,
    job_id uuid NOT NULL,
    until timestamptz NOT NULL,
    PRIMARY KEY (queue, key)
);
