"""The `OPTIONS` of a `TASKS` entry that uses `TaskrunnerBackend`, read and checked once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from taskrunner.errors import TaskrunnerError
from taskrunner.policy import DEFAULT_FAILED_TTL, DEFAULT_RESULT_TTL
from taskrunner.retry import seconds


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """How one `TASKS` alias runs its tasks on taskrunner.

    `url`: the taskrunner backend (`redis://...`, `postgresql://...`; default the
    `TASKRUNNER_URL` environment variable). `retries`: attempts after the first when a task
    raises (default 0: as the Tasks framework defines it, a task that raises has failed).
    `timeout`: seconds an attempt may run (default none). `result_ttl` and `failed_ttl`:
    seconds a finished job's record, and so its `TaskResult`, is kept (a failed one's under
    `failed_ttl`; None keeps it until purged). `modules`: modules the worker imports, besides
    the `tasks` module of each installed app, to find the tasks it may run.
    """

    url: str | None = None
    retries: int = 0
    timeout: float | None = None
    result_ttl: float | None = DEFAULT_RESULT_TTL
    failed_ttl: float | None = DEFAULT_FAILED_TTL
    modules: tuple[str, ...] = ()

    @classmethod
    def read(cls, alias: str, options: Mapping[str, Any]) -> BackendOptions:
        """The options of `TASKS[alias]["OPTIONS"]`; `ImproperlyConfigured` says what is wrong."""
        where = f'TASKS["{alias}"]["OPTIONS"]'
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            known = ", ".join(cls.__dataclass_fields__)
            raise ImproperlyConfigured(f"{where}: unknown {', '.join(unknown)} (known: {known})")
        try:
            return cls(**{name: _checked(name, value) for name, value in options.items()})
        except (TaskrunnerError, TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"{where}: {exc}") from None


def _checked(name: str, value: Any) -> Any:
    if name == "url":
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"url must be a backend URL, got {value!r}")
        return value
    if name == "retries":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"retries must be a whole number >= 0, got {value!r}")
        return value
    if name == "modules":
        if isinstance(value, str) or not all(isinstance(m, str) and m for m in value):
            raise ValueError(f"modules must be a list of module names, got {value!r}")
        return tuple(value)
    if value is None:
        return None
    if name == "timeout" and seconds(value, name) == 0:
        raise ValueError("timeout must be more than 0 seconds (or None)")
    return seconds(value, name)
