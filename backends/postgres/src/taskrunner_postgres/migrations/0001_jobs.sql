-- The jobs table, its sequence and the partial indexes the hot queries use.
--
-- state holds 'queued' (due), 'scheduled' (due later; a claim takes it once run_at has
-- passed), 'running', 'succeeded', 'failed' or 'cancelled'. Every time is the server's clock.

CREATE SEQUENCE {schema}.job_seq AS bigint;

CREATE TABLE {schema}.jobs (
    id               uuid        PRIMARY KEY,
    task             text        NOT NULL,
    queue            text        NOT NULL,
    state            text        NOT NULL CHECK (state IN (
                         'queued', 'scheduled', 'running', 'succeeded', 'failed', 'cancelled')),
    priority         smallint    NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL,
    seq              bigint      NOT NULL DEFAULT nextval('{schema}.job_seq'),
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL,
    key              text,
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    lease_until      timestamptz,
    expires_at       timestamptz,
    worker           text,
    cancel_requested boolean     NOT NULL DEFAULT false,
    payload          bytea       NOT NULL,
    progress         bytea,
    result           bytea,
    error            bytea
);

ALTER SEQUENCE {schema}.job_seq OWNED BY {schema}.jobs.seq;

-- claim: due jobs of one queue in claim order
CREATE INDEX jobs_queued_idx ON {schema}.jobs (queue, priority, run_at, seq)
    WHERE state = 'queued';
-- claim and wait: the earliest due time of one queue's scheduled jobs
CREATE INDEX jobs_scheduled_idx ON {schema}.jobs (queue, run_at)
    WHERE state = 'scheduled';
-- reclaim: expired leases
CREATE INDEX jobs_running_idx ON {schema}.jobs (lease_until)
    WHERE state = 'running';
-- reclaim: finished records whose retention has ended
CREATE INDEX jobs_expiring_idx ON {schema}.jobs (expires_at)
    WHERE expires_at IS NOT NULL;
-- dedup keys are unique among stored jobs
CREATE UNIQUE INDEX jobs_key_idx ON {schema}.jobs (key)
    WHERE key IS NOT NULL;

-- a queue table churns: vacuum it early and often
ALTER TABLE {schema}.jobs SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02
);
