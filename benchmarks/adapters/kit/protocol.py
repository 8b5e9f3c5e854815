"""The tiny line protocol: one JSON spec in (argv), `@@bench {json}` lines out (stdout)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, fields
from typing import Any

PREFIX = "@@bench "


def emit(event: str, **payload: Any) -> None:
    """Write one protocol line; anything else on stdout is ignored by the reader."""
    sys.stdout.write(PREFIX + json.dumps({"event": event, **payload}) + "\n")
    sys.stdout.flush()


def parse(line: str) -> dict[str, Any] | None:
    """The event a protocol line carries, or None for any other line."""
    if not line.startswith(PREFIX):
        return None
    event: dict[str, Any] = json.loads(line[len(PREFIX) :])
    return event


@dataclass(frozen=True)
class Spec:
    """One adapter invocation: which workload, against what, how big."""

    workload: str
    backend: str
    url: str
    n: int = 1000
    concurrency: int = 50
    task: str = "noop"
    interval: float = 0.005
    batch_size: int = 1000
    checkpoints: tuple[int, ...] = ()
    phase: str = ""
    backlog: int = 0
    timeout: float = 600.0
    expect: int = 0
    workers: int = 1
    duration: float = 0.0
    idle: float = 0.0
    per_second: int = 100
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, raw: str) -> Spec:
        data = json.loads(raw)
        data["checkpoints"] = tuple(data.get("checkpoints", ()))
        return cls(**data)
