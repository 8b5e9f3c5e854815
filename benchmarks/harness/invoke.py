"""Running one adapter command as a subprocess with its library's python."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

PREFIX = "@@bench "
SLACK_SECONDS = 120.0

Status = Literal["ok", "na", "skip", "error"]


@dataclass(frozen=True)
class Outcome:
    """What one adapter run answered."""

    status: Status
    figures: dict[str, float] = field(default_factory=dict)
    message: str = ""


def run_adapter(
    python: Path, script: Path, command: str, spec: dict[str, Any], log: Path, timeout: float
) -> Outcome:
    """Run `python script command spec`; its stderr goes to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [str(python), str(script), command, json.dumps(spec)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with log.open("w") as err:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=err, text=True, env=env, start_new_session=True
        )
        try:
            stdout, _ = process.communicate(timeout=timeout + SLACK_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return Outcome("error", message=f"timed out after {timeout + SLACK_SECONDS:.0f} s")
    result = _last_result(stdout)
    if result is None:
        return Outcome("error", message=f"no result (exit {process.returncode}); {_tail(log)}")
    return _outcome(result, log)


def _last_result(stdout: str) -> dict[str, Any] | None:
    found = None
    for line in stdout.splitlines():
        if line.startswith(PREFIX):
            event = json.loads(line[len(PREFIX) :])
            if event.get("event") == "result":
                found = event
    return found


def _outcome(result: dict[str, Any], log: Path) -> Outcome:
    if "skip" in result:
        return Outcome("skip", message=str(result["skip"]))
    if "error" in result:
        return Outcome("error", message=f"{result['error']}; log: {log}")
    figures = result.get("figures", {})
    if "na" in figures:
        return Outcome("na", message=str(figures["na"]))
    return Outcome("ok", figures={key: float(value) for key, value in figures.items()})


def _tail(log: Path, lines: int = 5) -> str:
    text = log.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or f"see {log}"
