-- The task registry (`taskrunner.backend.TaskRegistry`): the spec of every task a worker
-- runs, published by each worker when it starts (`taskrunner.registry.TaskSpec`, JSON kept
-- as the bytes the worker sent), one row per task name, the last published winning. The
-- CLI and the dashboard's HTTP door read it to enqueue without the tasks' Python.
CREATE TABLE task_specs (
    name TEXT PRIMARY KEY,
    spec BLOB NOT NULL,
    published_at REAL NOT NULL
) WITHOUT ROWID;
