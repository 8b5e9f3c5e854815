"""PostgreSQL backend for taskrunner.

Install with `pip install "taskrunner-jobs[postgres]"` and point a runner at a database::

    runner = TaskRunner("postgresql://app@db.internal/app?schema=jobs&sslmode=verify-full")

Jobs can be enqueued inside your own transaction, so they exist only if it commits::

    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO orders ...")
        await send_receipt.options(connection=conn).enqueue(order_id)

Laid out like every backend (see docs/backends.md): `backend` (the protocol), `inspection`,
`settings` (the URL), `store` (the pool), `errors`, `records`, `listen` (LISTEN/NOTIFY),
`queries` (loads `sql/*.sql`) and `migrate` (applies `migrations/*.sql`).
"""

from taskrunner_postgres.backend import PostgresBackend
from taskrunner_postgres.settings import PostgresSettings

__all__ = ["PostgresBackend", "PostgresSettings"]
