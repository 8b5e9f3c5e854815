"""The watcher's polling task, left pending on a loop thrown away without closing its tasks,
is collected without an error logged from wherever the collection happens to run."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
from pathlib import Path

import pytest

from taskrunner_sqlite.listen import Watcher


def test_a_watcher_task_on_a_discarded_loop_is_collected_quietly(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    loop = asyncio.new_event_loop()
    watcher = Watcher(poll=0.005)
    watcher.conn = sqlite3.connect(tmp_path / "jobs.db")

    async def wait_forever() -> None:
        async with watcher.watching():
            await asyncio.sleep(3600)

    waiter = loop.create_task(wait_forever())
    waiter._log_destroy_pending = False  # type: ignore[attr-defined]  # the test's own
    loop.run_until_complete(asyncio.sleep(0.02))  # the polling task is running now
    assert watcher._task is not None and not watcher._task.done()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.close()  # thrown away with both tasks pending, as some frameworks do
        del waiter
        watcher._task = None
        gc.collect()
    watcher.conn.close()
    assert "taskrunner-sqlite-watch" not in caplog.text
