-- The jobs, their attempts, dedup windows, rate windows, paused queues and live workers.
-- Times are seconds since the epoch (REAL) on the system clock the processes share.
-- `state` is stored as 'scheduled' until a write finds the job due and makes it 'queued'
-- (reads tell a due scheduled job as queued). `parked` = 1: a claim set the job aside (its
-- `held` says why) and no claim looks at it until a slot of its limit key frees or its
-- rate window opens (`parked_until`).
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    task TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload BLOB NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    enqueued_at REAL NOT NULL,
    run_at REAL NOT NULL,
    key TEXT,
    started_at REAL,
    finished_at REAL,
    lease_until REAL,
    worker TEXT,
    result BLOB,
    error BLOB,
    progress BLOB,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    expires_at REAL,
    limit_key TEXT,
    limit_max INTEGER NOT NULL DEFAULT 0,
    rate_key TEXT,
    rate_max INTEGER NOT NULL DEFAULT 0,
    rate_per REAL NOT NULL DEFAULT 0,
    held TEXT,
    parked INTEGER NOT NULL DEFAULT 0,
    parked_until REAL
);

-- the claim: due jobs of a queue in claim order
CREATE INDEX jobs_ready ON jobs (queue, priority, run_at, seq)
    WHERE state = 'queued' AND parked = 0;
CREATE INDEX jobs_scheduled ON jobs (run_at) WHERE state = 'scheduled';
CREATE INDEX jobs_scheduled_queue ON jobs (queue, run_at) WHERE state = 'scheduled';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_keys ON jobs (queue, key) WHERE key IS NOT NULL;
CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX jobs_queue_state ON jobs (queue, state);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
-- limits: the running jobs of a key, and the jobs set aside for a slot of it
CREATE INDEX jobs_limit_running ON jobs (queue, limit_key)
    WHERE state = 'running' AND limit_key IS NOT NULL;
CREATE INDEX jobs_limit_parked ON jobs (queue, limit_key, priority, run_at, seq)
    WHERE parked = 1 AND held = 'limit';
CREATE INDEX jobs_rate_parked ON jobs (queue, parked_until) WHERE parked = 1 AND held = 'rate';

CREATE TABLE attempts (
    job_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    worker TEXT,
    started_at REAL,
    ended_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    error BLOB
);
CREATE INDEX attempts_job ON attempts (job_id, attempt);

CREATE TRIGGER jobs_forget_attempts AFTER DELETE ON jobs BEGIN
    DELETE FROM attempts WHERE job_id = old.id;
END;

-- the ends of attempts per queue, for `activity()`, kept an hour and a minute
CREATE TABLE activity (
    queue TEXT NOT NULL,
    ended_at REAL NOT NULL,
    runtime REAL NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX activity_queue ON activity (queue, ended_at);
CREATE INDEX activity_ended ON activity (ended_at);

CREATE TABLE windows (
    queue TEXT NOT NULL,
    key TEXT NOT NULL,
    job_id TEXT NOT NULL,
    open_until REAL NOT NULL,
    PRIMARY KEY (queue, key)
) WITHOUT ROWID;
CREATE INDEX windows_closing ON windows (open_until);

CREATE TABLE rate_starts (
    queue TEXT NOT NULL,
    key TEXT NOT NULL,
    started_at REAL NOT NULL
);
CREATE INDEX rate_starts_key ON rate_starts (queue, key, started_at);

CREATE TABLE paused (queue TEXT PRIMARY KEY) WITHOUT ROWID;

CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    running INTEGER NOT NULL,
    started_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    alive_until REAL NOT NULL
) WITHOUT ROWID;

-- requests to cancel running jobs, in order, for the listeners of other processes
-- (AUTOINCREMENT: a number is never used again, even after pruning)
CREATE TABLE cancel_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    asked_at REAL NOT NULL
);
CREATE INDEX cancel_log_asked ON cancel_log (asked_at);
