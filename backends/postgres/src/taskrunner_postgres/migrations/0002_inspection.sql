-- Inspection: every attempt kept on its job, an index for listing jobs newest first, job
-- counts and recent activity kept up to date by the statements that move jobs, and the
-- registry of live workers.

-- The attempts that ended, oldest first, as a JSON array of objects: attempt, worker,
-- started_at and ended_at (epoch seconds), outcome, error (base64, or null). The attempt
-- that finished the job is not in it: the job's own columns tell it (see sql/retry.sql,
-- which logs it before the job runs again). NULL while nothing is logged.
ALTER TABLE {schema}.jobs ADD COLUMN attempts jsonb;

-- Listing newest first (ids are UUIDv7: they sort by creation time), for one queue and
-- state; listings across queues skip from queue to queue. Running jobs are few and listed
-- from jobs_running_idx, so claiming a job writes nothing here. The runtimes of the jobs
-- that finished last are read along it too.
CREATE INDEX jobs_list_idx ON {schema}.jobs (queue, state, id)
    WHERE state <> 'running';

-- Changes to the number of jobs per queue, and the attempts that ended, per minute (epoch
-- seconds / 60). Each statement adds its own to rows of its connection (slot: the backend's
-- pid), so concurrent statements never wait on each other here, even an enqueue inside a
-- long transaction of the application. Readers add rows up. Reclaim folds rows of other
-- minutes into slot 0, and rows older than an hour into the queue's row of minute 0
-- (keeping their counts, dropping their attempts and scheduled jobs).
--
-- `unfinished` counts queued, scheduled and running jobs, in the minute of the change.
-- `scheduled` counts scheduled jobs in the minute they are due; readers count those due
-- after this minute from the tallies, the rest of them from jobs_scheduled_idx, and running
-- jobs from jobs_running_idx. A claim changes nothing here: the scheduled jobs it takes are
-- due, so their minute no longer counts.
CREATE TABLE {schema}.tallies (
    queue           text     NOT NULL,
    minute          bigint   NOT NULL,
    slot            integer  NOT NULL,
    unfinished      bigint   NOT NULL DEFAULT 0,
    scheduled       bigint   NOT NULL DEFAULT 0,
    succeeded       bigint   NOT NULL DEFAULT 0,
    failed          bigint   NOT NULL DEFAULT 0,
    cancelled       bigint   NOT NULL DEFAULT 0,
    ended_succeeded bigint   NOT NULL DEFAULT 0,
    ended_failed    bigint   NOT NULL DEFAULT 0,
    ended_retry     bigint   NOT NULL DEFAULT 0,
    ended_cancelled bigint   NOT NULL DEFAULT 0,
    ended_released  bigint   NOT NULL DEFAULT 0,
    ended_lost      bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, minute, slot)
);

INSERT INTO {schema}.tallies (queue, minute, slot, unfinished, succeeded, failed, cancelled)
SELECT j.queue, 0, 0,
       count(*) FILTER (WHERE j.state IN ('queued', 'scheduled', 'running')),
       count(*) FILTER (WHERE j.state = 'succeeded'),
       count(*) FILTER (WHERE j.state = 'failed'),
       count(*) FILTER (WHERE j.state = 'cancelled')
FROM {schema}.jobs AS j
GROUP BY j.queue;

INSERT INTO {schema}.tallies (queue, minute, slot, scheduled)
-- a due time of 'infinity' (only SQL stores it) counts in the minute of 1e13 s, as in 0004
SELECT j.queue, floor(least(date_part('epoch', j.run_at), 1e13) / 60)::bigint, 0, count(*)
FROM {schema}.jobs AS j
WHERE j.state = 'scheduled'
GROUP BY 1, 2;

-- Workers as they announce themselves; alive until expires_at.
CREATE TABLE {schema}.workers (
    id          text        PRIMARY KEY,
    hostname    text        NOT NULL,
    pid         integer     NOT NULL,
    queues      text[]      NOT NULL,
    concurrency integer     NOT NULL,
    running     integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
