"""The task registry on Postgres (see `taskrunner.backend.TaskRegistry`): a row of
`task_specs` per task (migrations/0011_task_registry.sql), which workers write when they
start and code without the tasks' Python reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from taskrunner_postgres.queries import read_resource, render
from taskrunner_postgres.settings import PostgresSettings
from taskrunner_postgres.store import PostgresStore


@dataclass(frozen=True, slots=True)
class RegistryQueries:
    """The registry's statements, rendered for one schema."""

    publish_tasks: str
    task_specs: str


@cache
def registry_queries(settings: PostgresSettings) -> RegistryQueries:
    """The registry's statements for `settings.schema` (read once per settings)."""
    return RegistryQueries(
        **{
            name: render(read_resource("sql", f"{name}.sql"), settings)
            for name in RegistryQueries.__dataclass_fields__
        }
    )


class PostgresRegistry:
    """The `TaskRegistry` ability of `PostgresBackend`, on its store."""

    settings: PostgresSettings
    _store: PostgresStore

    async def publish_tasks(self, specs: Mapping[str, bytes]) -> None:
        if not specs:
            return
        names = list(specs)
        await self._store.fetch(
            "publishing task specs",
            registry_queries(self.settings).publish_tasks,
            names,
            [specs[name] for name in names],
            again=True,
        )

    async def task_specs(self, names: Sequence[str] | None = None) -> dict[str, bytes]:
        if names is not None and not names:
            return {}
        rows = await self._store.fetch(
            "reading task specs",
            registry_queries(self.settings).task_specs,
            None if names is None else list(names),
            again=True,
        )
        return {name: bytes(spec) for name, spec in rows}
