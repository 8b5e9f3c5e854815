"""Times that plain SQL can store but a Python datetime cannot hold read as the first or
last moment a datetime holds: reads never fail on them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
from typer.testing import CliRunner

from taskrunner import TaskRunner
from taskrunner.cli import app
from taskrunner.testing import new_job


async def test_infinite_and_huge_times_written_by_sql_are_shown(
    pg_url: str, schema: str, admin: asyncpg.Connection
) -> None:
    ahead, behind, huge = new_job(delay=60), new_job(delay=60), new_job(delay=60)
    async with TaskRunner(pg_url) as runner:
        await runner.backend.enqueue([ahead, behind, huge])
        update = f"UPDATE {schema}.jobs SET run_at = $2::text::timestamptz WHERE id = $1::uuid"
        await admin.execute(update, ahead.id, "infinity")
        await admin.execute(update, behind.id, "-infinity")
        await admin.execute(update, huge.id, "294000-01-01 00:00:00+00")
        first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
        assert (await runner.get_job(ahead.id)).run_at == last
        assert (await runner.get_job(behind.id)).run_at == first
        assert (await runner.get_job(huge.id)).run_at == last
        listed = {info.id: info.run_at for info in (await runner.list_jobs()).jobs}
        assert listed == {ahead.id: last, behind.id: first, huge.id: last}
    cli = CliRunner()
    for command in (["jobs"], ["job", ahead.id], ["job", behind.id, "--json"]):
        # the CLI runs its own event loop
        result = await asyncio.to_thread(cli.invoke, app, [*command, "--url", pg_url])
        assert result.exit_code == 0, result.output
