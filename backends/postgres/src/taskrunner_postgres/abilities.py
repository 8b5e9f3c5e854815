"""The abilities of `PostgresBackend` beyond the backend protocol, each a mixin of its own
module on the backend's store and queries, gathered into the one base class it extends."""

from __future__ import annotations

from taskrunner_postgres.batches import PostgresBatches
from taskrunner_postgres.deletion import PostgresDeletion
from taskrunner_postgres.dependencies import PostgresDependencies
from taskrunner_postgres.inspection import PostgresInspection
from taskrunner_postgres.pausing import PostgresPausing
from taskrunner_postgres.registry import PostgresRegistry


class PostgresAbilities(
    PostgresInspection,
    PostgresPausing,
    PostgresBatches,
    PostgresDependencies,
    PostgresRegistry,
    PostgresDeletion,
):
    """Inspection, pausing queues, batches, dependencies, the task registry and deleting
    single jobs."""
