"""The task registry on the core's side: what a task's spec holds (`TaskSpec`), publishing
the specs of a worker's tasks when it starts, and, for code without the tasks' Python (the
CLI without the app, the dashboard's HTTP door), a stand-in `Task` built from a spec, which
checks a call's arguments and applies the task's settings as the task itself would.

A spec, as JSON (`format` 1):

    {"format": 1, "name": "feeds.fetch", "queue": "feeds", "max_attempts": 4,
     "priority": 0, "parameters": [["url", "positional_or_keyword", false], ...],
     "limit": {"max": 2, "key": "customer:{customer_id}", "computed": false} or null,
     "rate": {"n": 10, "per": 1.0, "key": "stripe", "computed": false} or null,
     "max_payload": 1048576}

`parameters` lists the function's parameters in order: name, kind (as `inspect` names it,
lower case), and whether it has a default (null: the signature could not be read, any call
is taken). A limit or rate key of null is the task's name; `computed` marks a key that
Python code makes from the arguments, which only the task's own process can: an enqueue
elsewhere must pass that key itself (`limit_key`, `rate_key`) or is refused. `max_payload` is
the publishing runner's payload limit in bytes (absent from older specs).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, ParamSpec, TypeVar

import orjson

from taskrunner._serialization import DEFAULT_MAX_PAYLOAD
from taskrunner.backend import Backend, TaskRegistry
from taskrunner.errors import ConfigurationError, TaskrunnerError
from taskrunner.handle import Job
from taskrunner.limits import Limit, Rate
from taskrunner.task import Enqueuer, PreparedJob, Task, TaskSettings

log = logging.getLogger("taskrunner.registry")

FORMAT = 1
Parameter = tuple[str, str, bool]  # name, kind, has a default
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What a worker publishes of one task (see the module's doc)."""

    name: str
    queue: str
    max_attempts: int
    priority: int
    parameters: tuple[Parameter, ...] | None
    limit: dict[str, Any] | None = None
    rate: dict[str, Any] | None = None
    max_payload: int | None = None

    @classmethod
    def of(cls, task: Task[..., Any]) -> TaskSpec:
        settings = task.settings
        limit = settings.limit
        rate = settings.rate
        return cls(
            name=settings.name,
            queue=settings.queue,
            max_attempts=settings.retries + 1,
            priority=settings.priority,
            parameters=parameters_of(task.fn),
            limit=None if limit is None else {"max": limit.max, **key_fields(limit.key)},
            rate=None if rate is None else {"n": rate.n, "per": rate.per, **key_fields(rate.key)},
            max_payload=task.runner.max_payload,
        )

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "format": FORMAT, "name": self.name, "queue": self.queue,
                "max_attempts": self.max_attempts, "priority": self.priority,
                "parameters": self.parameters, "limit": self.limit, "rate": self.rate,
                "max_payload": self.max_payload,
            }
        )  # fmt: skip

    @classmethod
    def decode(cls, raw: bytes) -> TaskSpec:
        """The spec in `raw`; `ConfigurationError` for one this version cannot read."""
        try:
            data = orjson.loads(raw)
            if data.get("format") != FORMAT:
                raise ConfigurationError(
                    f"task spec format {data.get('format')!r}: this version reads {FORMAT}"
                )
            params = data["parameters"]
            return cls(
                name=str(data["name"]),
                queue=str(data["queue"]),
                max_attempts=int(data["max_attempts"]),
                priority=int(data["priority"]),
                parameters=None if params is None else tuple((str(n), str(k), bool(d))
                                                             for n, k, d in params),
                limit=data.get("limit"),
                rate=data.get("rate"),
                max_payload=None if data.get("max_payload") is None else int(data["max_payload"]),
            )  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigurationError(f"a stored task spec cannot be read: {exc!r}") from None


def parameters_of(fn: Any) -> tuple[Parameter, ...] | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return tuple(
        (p.name, p.kind.name.lower(), p.default is not p.empty)
        for p in signature.parameters.values()
    )


def key_fields(key: object) -> dict[str, Any]:
    if callable(key):
        return {"key": None, "computed": True}
    return {"key": key, "computed": False}


async def publish(backend: Backend, tasks: Iterable[Task[..., Any]]) -> None:
    """Publish the specs of `tasks` where the backend keeps a registry. A failure is
    logged, not raised: the worker runs its jobs either way."""
    if not isinstance(backend, TaskRegistry):
        return
    specs = {task.name: TaskSpec.of(task).encode() for task in tasks}
    if not specs:
        return
    try:
        await backend.publish_tasks(specs)
    except Exception as exc:
        log.warning("could not publish the task specs (%s: %s)", type(exc).__name__, exc)


async def registered_task(runner: Enqueuer, backend: Backend, name: str) -> Task[..., Any] | None:
    """A stand-in for the task `name` from the backend's registry (None if no worker
    published it, or the backend keeps no registry)."""
    if not isinstance(backend, TaskRegistry):
        return None
    stored = (await backend.task_specs([name])).get(name)
    return None if stored is None else stand_in(runner, TaskSpec.decode(stored))


def stand_in(runner: Enqueuer, spec: TaskSpec) -> Task[..., Any]:
    """A `Task` that enqueues as the task of `spec` does (its settings, its argument
    checks, its keys) but cannot run: its code is elsewhere."""

    def elsewhere(*args: Any, **kwargs: Any) -> NoReturn:
        raise TaskrunnerError(f"task {spec.name!r} runs in its workers, not here")

    if spec.parameters is not None:
        elsewhere.__signature__ = signature_of(spec.parameters)  # type: ignore[attr-defined]
    elsewhere.__name__ = spec.name.rsplit(".", 1)[-1]
    settings = TaskSettings(
        spec.name,
        queue=spec.queue,
        retries=max(spec.max_attempts - 1, 0),
        priority=spec.priority,
        limit=None if spec.limit is None else Limit(spec.limit["max"], key=key_of(spec.limit)),
        rate=None
        if spec.rate is None
        else Rate(spec.rate["n"], per=spec.rate["per"], key=key_of(spec.rate)),
    )
    limit = DEFAULT_MAX_PAYLOAD if spec.max_payload is None else spec.max_payload
    return Task(PublishersLimit(runner, limit), elsewhere, settings)


class PublishersLimit:
    """The enqueuer of a stand-in: `runner`'s, with the payload limit of the runner that
    published the task (`max_payload`), which a worker of the task holds its jobs to, as
    the Redis and SQL doors do."""

    def __init__(self, runner: Enqueuer, max_payload: int) -> None:
        self.runner = runner
        self.max_payload = max_payload

    async def enqueue_many(
        self, prepared: Iterable[PreparedJob[T]], *, connection: Any = None
    ) -> list[Job[T]]:
        return await self.runner.enqueue_many(prepared, connection=connection)

    def enqueue_many_sync(
        self, prepared: Iterable[PreparedJob[T]], *, connection: Any = None
    ) -> list[Job[T]]:
        return self.runner.enqueue_many_sync(prepared, connection=connection)

    def call_sync(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        return self.runner.call_sync(fn, *args, **kwargs)


def signature_of(parameters: Iterable[Parameter]) -> inspect.Signature:
    kinds = {kind.name.lower(): kind for kind in inspect._ParameterKind}
    return inspect.Signature(
        [
            inspect.Parameter(
                name,
                kinds.get(kind, inspect.Parameter.POSITIONAL_OR_KEYWORD),
                default=None if has_default else inspect.Parameter.empty,
            )
            for name, kind, has_default in parameters
        ]
    )


def key_of(fields: Mapping[str, Any]) -> Any:
    """The key spec of a stand-in's Limit or Rate: the template or constant, the task's
    name (None), or, for a key computed by Python code, a callable refusing the call."""
    if not fields.get("computed"):
        return fields.get("key")

    def computed(*args: Any, **kwargs: Any) -> NoReturn:
        raise ConfigurationError(
            "this task's key is computed by Python code in its workers: pass the key "
            "itself (limit_key or rate_key) to enqueue it from here"
        )

    return computed
