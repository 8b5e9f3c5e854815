"""`taskrunner batches`: the newest batches, their members' counts and their callbacks."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from taskrunner._present import when
from taskrunner.backend import JobState
from taskrunner.batch import BatchInfo
from taskrunner.cli._app import AppArg, AppOpt, JsonOpt, UrlOpt, chosen_app, print_json, with_runner


def list_batches(
    app_path: AppArg = None,
    app_option: AppOpt = None,
    url: UrlOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """The newest batches: members by state, and whether their callbacks were enqueued."""
    found = with_runner(
        chosen_app(app_path, app_option), url, lambda runner: runner.list_batches(limit)
    )
    if json_out:
        print_json([batch_dict(b) for b in found])
        return
    table = Table("members", "by state", "ended", "callbacks")
    table.add_column("batch", no_wrap=True, min_width=36)
    for batch in found:
        states = [f"{n} {state.value}" for state in JobState if (n := batch.counts.get(state))]
        table.add_row(
            f"{batch.total}{'' if batch.closed else ' (open)'}",
            ", ".join(states) or "-",
            when(batch.ended_at) or "-",
            callbacks(batch),
            batch.id,
        )
    Console().print(table)


def callbacks(batch: BatchInfo) -> str:
    said = []
    for name, job_id, fired in (
        ("on_success", batch.on_success, batch.success_fired),
        ("on_complete", batch.on_complete, batch.complete_fired),
    ):
        if job_id is not None:
            said.append(f"{name} {'enqueued' if fired else 'waiting'}")
    return ", ".join(said) or "-"


def batch_dict(batch: BatchInfo) -> dict[str, Any]:
    return {
        "id": batch.id, "total": batch.total, "closed": batch.closed,
        "counts": {state.value: n for state, n in batch.counts.items()},
        "created_at": batch.created_at.isoformat(),
        "ended_at": None if batch.ended_at is None else batch.ended_at.isoformat(),
        "on_success": batch.on_success, "success_fired": batch.success_fired,
        "on_complete": batch.on_complete, "complete_fired": batch.complete_fired,
    }  # fmt: skip
