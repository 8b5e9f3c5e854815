"""`taskrunner stats --watch`: the stats tables, read again every `--interval` seconds and
shown in place, like `top` (on a terminal; elsewhere each view is printed after the last)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from taskrunner.backend import redact
from taskrunner.cli.render import stats_tables
from taskrunner.runner import TaskRunner


async def watch_stats(
    runner: TaskRunner,
    queues: Sequence[str] | None,
    window: float,
    interval: float,
    count: int | None = None,
) -> None:
    """Show the stats every `interval` seconds until Ctrl-C (or `count` views)."""
    console = Console()
    views = stats_views(runner, queues, window, interval, count)
    if not console.is_terminal:
        async for view in views:
            console.print(view)
        return
    with Live(console=console, auto_refresh=False) as live:
        async for view in views:
            live.update(view, refresh=True)


async def stats_views(
    runner: TaskRunner,
    queues: Sequence[str] | None,
    window: float,
    interval: float,
    count: int | None,
) -> AsyncIterator[Group]:
    """A view of the stats, then another every `interval` seconds (`count` at the most)."""
    shown = 0
    while True:
        report = await runner.stats(list(queues) if queues else None, window)
        header = Text(
            f"taskrunner stats  {redact(runner.url)}  {datetime.now():%H:%M:%S}  "
            f"(every {interval:g}s, Ctrl-C to stop)",
            style="bold",
        )
        yield Group(header, *stats_tables(report))
        shown += 1
        if count is not None and shown >= count:
            return
        await asyncio.sleep(interval)
