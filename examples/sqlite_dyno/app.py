"""A web process and a worker process on one machine, sharing one SQLite file: no server.

The Procfile beside this file declares both process types:

    web: uvicorn app:web --host 0.0.0.0 --port $PORT
    worker: taskrunner run app:runner --concurrency 10 --grace 25

Run it from a clone of the repository, one process per terminal (both open `app.db` in
this folder, or the file DATABASE names):

    cd examples/sqlite_dyno
    uv run taskrunner run app:runner --concurrency 10 --grace 25
    uv run uvicorn app:web --host 0.0.0.0 --port 8000

then sign someone up and see them welcomed, and how many jobs each state holds:

    curl -X POST 'localhost:8000/signups?email=ada@example.com'
    curl localhost:8000/signups
    uv run taskrunner stats app:runner

A signup is stored and its welcome job enqueued in the same SQLite transaction, so there
is never a signup without its job, nor a job for a signup that rolled back. A worker
process runs the job; more worker processes share the file, one machine's disk.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from typing import Any

from fastapi import FastAPI, Query

from taskrunner import TaskRunner

DATABASE = os.environ.get("DATABASE", "app.db")  # the app's tables and the jobs, one file

runner = TaskRunner(f"sqlite:///{DATABASE}")


def connect() -> sqlite3.Connection:
    """A connection to the file, in autocommit mode (transactions are begun by hand)."""
    conn = sqlite3.connect(DATABASE, isolation_level=None, timeout=10)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS signups "
        "(email TEXT PRIMARY KEY, signed_up_at REAL NOT NULL, welcomed_at REAL)"
    )
    return conn


@runner.task(retries=5)
def send_welcome(email: str) -> None:
    """Send the welcome mail (here: note when). A plain function runs in a worker thread.
    Safe to run twice: a second run keeps the first time."""
    with closing(connect()) as conn:
        conn.execute(
            "UPDATE signups SET welcomed_at = coalesce(welcomed_at, ?) WHERE email = ?",
            (time.time(), email),
        )


# -- the web process ---------------------------------------------------------------------------


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # no worker here: this process stores signups and enqueues; `taskrunner run` runs jobs
    async with runner:
        yield


web = FastAPI(title="Signups", lifespan=lifespan)


@web.post("/signups", status_code=202)
async def sign_up(email: str = Query(min_length=3, max_length=200)) -> dict[str, str]:
    with closing(connect()) as conn:
        conn.execute("BEGIN IMMEDIATE")  # a short transaction: a worker's claim waits for it
        try:
            conn.execute(
                "INSERT INTO signups (email, signed_up_at) VALUES (?, ?) "
                "ON CONFLICT (email) DO NOTHING",
                (email, time.time()),
            )
            welcome = send_welcome.options(connection=conn, key=f"welcome:{email}")
            job = await welcome.enqueue(email)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return {"job": job.id}


@web.get("/signups")
async def list_signups() -> list[dict[str, Any]]:
    with closing(connect()) as conn:
        rows = conn.execute("SELECT email, welcomed_at FROM signups ORDER BY signed_up_at")
        return [{"email": email, "welcomed_at": at} for email, at in rows]
