-- Paused queues: no claim takes a job from a queue listed here (see sql/claim.sql), and an
-- idle worker does not count its due jobs (sql/next_due.sql). A queue without jobs can be
-- listed. Rows are few: claims read this table by its primary key.
CREATE TABLE {schema}.paused_queues (
    queue text PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now()
);
