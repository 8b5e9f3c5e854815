"""SQLite backend for taskrunner: several processes of one machine share jobs in one file,
with no server to run.

Install with `pip install "taskrunner-jobs[sqlite]"` and point every process at the same file::

    runner = TaskRunner("sqlite:////srv/app/jobs.db")   # four slashes: an absolute path

Jobs can be enqueued inside your own sqlite3 transaction, so they exist only if it commits::

    with sqlite3.connect("/srv/app/jobs.db", isolation_level=None) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO orders ...")
        await send_receipt.options(connection=conn).enqueue(order_id)
        conn.execute("COMMIT")

Laid out like every backend (see docs/backends.md): `backend` (the protocol), `inspection`,
`pausing`, `registry` (the task registry), `settings` (the URL), `store` (the connection and
its thread), `errors`, `records`, `listen` (waking waiters across processes), `queries`
(loads `sql/*.sql`) and `migrate` (applies `migrations/*.sql`); the state changes are in
`jobs`, `claim`, `windows` and `tidy`, the reads in `reads`.
"""

from taskrunner_sqlite.backend import SqliteBackend
from taskrunner_sqlite.settings import SqliteSettings

__all__ = ["SqliteBackend", "SqliteSettings"]
