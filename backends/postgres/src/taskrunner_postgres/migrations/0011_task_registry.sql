-- The task registry (issue 16): the spec of every task a worker runs, published by each
-- worker when it starts (`taskrunner.registry.TaskSpec`: JSON, kept as the bytes the worker
-- sent), one row per task name, the last published winning. Code without the tasks' Python
-- reads it to refuse unknown tasks and apply each task's settings.

CREATE TABLE {schema}.task_specs (
    name         text        PRIMARY KEY,
    spec         bytea       NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);
