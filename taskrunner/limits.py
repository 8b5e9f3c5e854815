"""Flow control declared on a task: `Limit` (at most so many of its jobs running per key) and
`Rate` (at most so many starts per window per key), and how their keys come out of a call's
arguments. The backend enforces both at the claim (see `taskrunner.backend.NewJob`).

A key is a template over the task's arguments by name (``"customer:{customer_id}"``), a
constant (no braces), or a callable given the call's arguments; without one, the key is the
task's name. A key holds within one queue; limit keys and rate keys are apart.
"""

from __future__ import annotations

import inspect
import math
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from taskrunner import _validation as validation
from taskrunner.errors import ConfigurationError, InvalidArguments
from taskrunner.retry import MAX_SECONDS

KeySpec = str | Callable[..., str] | None
LIMIT_MAX = 1_000_000  # the most running per key one Limit allows
RATE_MAX = 100_000  # the most starts per window one Rate allows (each start is kept)


def _count(value: object, what: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ConfigurationError(f"{what} must be an int from 1 to {most:,}, got {value!r}")
    return value


def _key_spec(key: object, what: str) -> None:
    if key is None or callable(key):
        return
    if not isinstance(key, str) or not key:
        raise ConfigurationError(
            f"{what} key must be a template string, a callable or None, got {key!r}"
        )
    fields(key, what)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max` of the task's jobs running at once per `key`, across every worker.
    `Limit(2, key="customer:{customer_id}")`: two per customer."""

    max: int
    key: KeySpec = None

    def __post_init__(self) -> None:
        _count(self.max, "Limit max", LIMIT_MAX)
        _key_spec(self.key, "Limit")


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `n` of the task's attempts start in any `per` seconds per `key`, across every
    worker, on the backend's clock (a sliding window; retries count).
    `Rate(10, per=1.0, key="stripe")`: ten starts a second."""

    n: int
    per: float | timedelta = 1.0
    key: KeySpec = None

    def __post_init__(self) -> None:
        _count(self.n, "Rate n", RATE_MAX)
        per = self.per.total_seconds() if isinstance(self.per, timedelta) else self.per
        if (
            isinstance(per, bool)
            or not isinstance(per, int | float)
            or not math.isfinite(per)
            or not 0 < per <= MAX_SECONDS
        ):
            raise ConfigurationError(
                f"Rate per must be a number of seconds > 0 (at most ten years), got {self.per!r}"
            )
        object.__setattr__(self, "per", float(per))
        _key_spec(self.key, "Rate")

    @property
    def seconds(self) -> float:
        return self.per.total_seconds() if isinstance(self.per, timedelta) else self.per


def fields(template: str, what: str) -> list[str]:
    """The argument names a key template reads (the part of each field before `.` or `[`)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigurationError(f"{what} key template {template!r} is malformed: {exc}") from None
    names = []
    for _, name, _, _ in parsed:
        if name is None:
            continue
        root = name.split(".", 1)[0].split("[", 1)[0]
        if not root.isidentifier():
            raise ConfigurationError(
                f"{what} key template {template!r}: each {{field}} names an argument of the "
                f"task, got {{{name}}}"
            )
        names.append(root)
    return names


class KeyMaker:
    """One task's limit or rate key, checked against its function when the task is declared
    and worked out from each call's arguments at enqueue."""

    def __init__(self, spec: KeySpec, fn: Callable[..., Any], task: str, what: str) -> None:
        self.what = what
        self.task = task
        self.fn = fn
        self.constant: str | None = None
        self.template: str | None = None
        self.call: Callable[..., str] | None = None
        if spec is None:
            self.constant = task
        elif callable(spec):
            self.call = spec
        elif not fields(spec, what):
            self.constant = validation.flow_key(spec.replace("{{", "{").replace("}}", "}"), what)
        else:
            self.template = spec
            self._check_names(fields(spec, what))

    def _check_names(self, names: list[str]) -> None:
        try:
            params = inspect.signature(self.fn).parameters
        except (TypeError, ValueError):  # no signature to read: calls will tell
            return
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return
        named = {n for n, p in params.items() if p.kind is not p.VAR_POSITIONAL}
        for name in names:
            if name not in named:
                raise ConfigurationError(
                    f"task {self.task!r}: its {self.what} key template {self.template!r} names "
                    f"{name!r}, which is not an argument of the task"
                )

    @property
    def shared_name(self) -> str | None:
        """What tasks sharing this key have in common, to compare their numbers: the constant
        or the template (None for a callable)."""
        return self.constant or self.template

    def key(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
        """The key of one call."""
        if self.constant is not None:
            return self.constant
        if self.call is not None:
            made = self.call(*args, **kwargs)
            if not isinstance(made, str):
                raise InvalidArguments(
                    f"task {self.task!r}: its {self.what} key function returned "
                    f"{type(made).__name__} {made!r}; it must return a string"
                )
            return validation.flow_key(made, self.what)
        assert self.template is not None
        try:
            bound = inspect.signature(self.fn).bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArguments(f"task {self.task!r}: {exc}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        for param in inspect.signature(self.fn).parameters.values():
            if param.kind is param.VAR_KEYWORD:
                values.update(values.pop(param.name, {}))
        try:
            made = self.template.format_map(values)
        except (KeyError, AttributeError, IndexError, ValueError) as exc:
            raise InvalidArguments(
                f"task {self.task!r}: its {self.what} key template {self.template!r} cannot "
                f"be filled from the call's arguments: {exc!r}"
            ) from None
        return validation.flow_key(made, self.what)


@dataclass(frozen=True, slots=True)
class FlowFields:
    """What one job carries of its task's limit and rate (the `NewJob` fields)."""

    limit_key: str | None = None
    limit_max: int = 0
    rate_key: str | None = None
    rate_max: int = 0
    rate_per: float = 0.0


NO_FLOW = FlowFields()


class TaskFlow:
    """A task's `Limit` and `Rate` with their keys compiled against its function."""

    def __init__(
        self, fn: Callable[..., Any], task: str, limit: Limit | None, rate: Rate | None
    ) -> None:
        self.limit, self.rate = limit, rate
        self.limit_key = None if limit is None else KeyMaker(limit.key, fn, task, "limit")
        self.rate_key = None if rate is None else KeyMaker(rate.key, fn, task, "rate")

    def shared(self, kind: str) -> tuple[str, str] | None:
        """The limit's or rate's key as tasks share it (a constant or a template; None for
        a callable or no limit) and its numbers, as a sentence."""
        if kind == "limit":
            key, numbers = self.limit_key, None if self.limit is None else f"max {self.limit.max}"
        else:
            rate = self.rate
            key, numbers = self.rate_key, None if rate is None else f"{rate.n} per {rate.seconds}s"
        if key is None or numbers is None or key.shared_name is None:
            return None
        return key.shared_name, numbers

    def fields(
        self,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        limit_key: str | None = None,
        rate_key: str | None = None,
    ) -> FlowFields:
        """The fields of one call's job; `limit_key` and `rate_key` (from `.options`)
        replace the keys worked out from its arguments."""
        if self.limit is None and self.rate is None:
            return NO_FLOW
        limit, rate = self.limit, self.rate
        if limit_key is None and self.limit_key is not None:
            limit_key = self.limit_key.key(args, kwargs)
        if rate_key is None and self.rate_key is not None:
            rate_key = self.rate_key.key(args, kwargs)
        return FlowFields(
            limit_key=limit_key,
            limit_max=0 if limit is None else limit.max,
            rate_key=rate_key,
            rate_max=0 if rate is None else rate.n,
            rate_per=0.0 if rate is None else rate.seconds,
        )


def check_shared(
    flows: Mapping[str, tuple[str, TaskFlow]], task: str, queue: str, new: TaskFlow
) -> None:
    """Refuse a task whose limit or rate key is also that of another task on `queue` (as a
    constant, or as the same template) with other numbers: tasks sharing a key share its
    numbers. `flows` maps each declared task's name to its queue and flow."""
    for other, (other_queue, flow) in flows.items():
        if other_queue != queue or other == task:
            continue
        for kind in ("limit", "rate"):
            mine, theirs = new.shared(kind), flow.shared(kind)
            if mine and theirs and mine[0] == theirs[0] and mine[1] != theirs[1]:
                raise ConfigurationError(
                    f"tasks {task!r} and {other!r} share the {kind} key {mine[0]!r} on "
                    f"queue {queue!r} with other numbers ({mine[1]} and {theirs[1]}): "
                    "tasks that share a key must declare the same numbers"
                )
