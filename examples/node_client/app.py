"""The Python side of the Node.js client: the task its jobs run, and the runner a worker
serves. Run from a clone of the repository, with Postgres reachable:

    cd examples/node_client
    export TASKRUNNER_URL=postgresql://postgres@127.0.0.1:5432/test
    uv run taskrunner run app:runner

The worker publishes its tasks to the database when it starts; from then on the Node.js
script can enqueue them (see README.md beside this file):

    npm ci
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test node enqueue.js emails.welcome '[42]'
"""

from __future__ import annotations

from taskrunner import TaskRunner

runner = TaskRunner()  # TASKRUNNER_URL: the Postgres database the Node.js script writes to


@runner.task(name="emails.welcome", queue="emails", retries=2)
async def welcome(user_id: int, *, locale: str = "en") -> str:
    """Greet a new user (a stand-in for sending the welcome email)."""
    greeting = {"en": "Welcome", "fr": "Bienvenue", "de": "Willkommen"}.get(locale, "Welcome")
    return f"{greeting}, user {user_id}!"
