"""`taskrunner retry`, `cancel` and `delete`: several ids, filters with a count and a
confirmation, one error line per job refused; against real Redis, Postgres and SQLite."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from taskrunner import JobState, TaskRunner
from taskrunner.cli import app
from tests.test_cli_ops import drained, environment_restored, run

__all__ = ["environment_restored"]  # the autouse fixture of these tests too

cli = CliRunner()


def states(url: str, ids: list[str]) -> list[JobState | None]:
    async def read(runner: TaskRunner) -> list[JobState | None]:
        found = await runner.get_jobs(ids)
        return [None if info is None else info.state for info in found]

    return run(url, read)


@pytest.fixture
def jobs(shared_url: str) -> dict[str, list[str]]:
    """Two failed and one succeeded job in `feeds`, and two jobs due in an hour: one in
    `feeds`, one in `mail` (task ops.sign_in)."""

    async def seed(runner: TaskRunner) -> dict[str, list[str]]:
        fetch, sign_in = runner.tasks["ops.fetch"], runner.tasks["ops.sign_in"]
        bad = [await fetch.enqueue(f"https://broken.example/{n}") for n in range(2)]
        ok = await fetch.enqueue("https://example.com/rss")
        await drained(runner)
        later = await fetch.options(delay=3600).enqueue("https://later.example/rss")
        mail = await sign_in.options(delay=3600, queue="mail").enqueue("ada", "pw")
        return {
            "failed": [job.id for job in bad],
            "succeeded": [ok.id],
            "scheduled": [later.id, mail.id],
        }

    return run(shared_url, seed)


def test_retry_takes_several_ids_and_counts_them(
    shared_url: str, jobs: dict[str, list[str]]
) -> None:
    failed, (ok,) = jobs["failed"], jobs["succeeded"]
    out = cli.invoke(app, ["retry", *failed, "--url", shared_url])
    assert (out.exit_code, out.stdout) == (0, "queued 2 jobs again\n")
    assert states(shared_url, failed) == [JobState.QUEUED, JobState.QUEUED]
    mixed = cli.invoke(app, ["retry", ok, "no-such-job", "--url", shared_url])
    assert mixed.exit_code == 1 and mixed.stdout == "queued 0 jobs again\n"
    assert f"error: job {ok} is succeeded: only failed, cancelled" in mixed.stderr
    assert "error: no job with id 'no-such-job'" in mixed.stderr


def test_retry_by_filter_asks_first(shared_url: str, jobs: dict[str, list[str]]) -> None:
    failed = jobs["failed"]
    refused = cli.invoke(app, ["retry", "--queue", "feeds", "--url", shared_url], input="n\n")
    assert refused.exit_code == 1
    assert "2 jobs match (queue feeds, state failed)" in refused.stderr
    assert "Retry 2 jobs? [y/N]" in refused.stderr and "nothing changed" in refused.stderr
    assert states(shared_url, failed) == [JobState.FAILED, JobState.FAILED]
    no_answer = cli.invoke(app, ["retry", "--state", "failed", "--url", shared_url])
    assert no_answer.exit_code == 1 and "nothing changed" in no_answer.stderr
    agreed = cli.invoke(app, ["retry", "--queue", "feeds", "--url", shared_url], input="y\n")
    assert agreed.exit_code == 0 and agreed.stdout.endswith("\nqueued 2 jobs again\n")
    assert states(shared_url, failed) == [JobState.QUEUED, JobState.QUEUED]


def test_retry_filters_combine(shared_url: str, jobs: dict[str, list[str]]) -> None:
    later, mail = jobs["scheduled"]
    args = ["retry", "--state", "scheduled", "--task", "ops.sign_in", "--yes", "--url", shared_url]
    out = cli.invoke(app, args)
    assert (out.exit_code, out.stdout) == (0, "queued 1 job again\n")
    assert "1 job match (task ops.sign_in, state scheduled)" in out.stderr
    assert states(shared_url, [later, mail]) == [JobState.SCHEDULED, JobState.QUEUED]
    none = cli.invoke(app, ["retry", "--queue", "empty", "--url", shared_url])
    assert (none.exit_code, none.stdout) == (0, "queued 0 jobs again\n")  # nothing to ask


def test_cancel_takes_several_ids(shared_url: str, jobs: dict[str, list[str]]) -> None:
    scheduled, (ok,) = jobs["scheduled"], jobs["succeeded"]
    out = cli.invoke(app, ["cancel", *scheduled, ok, "--url", shared_url])
    assert out.exit_code == 1 and out.stdout == "cancelled 2 jobs\n"
    assert f"error: job {ok} is already succeeded" in out.stderr
    assert states(shared_url, scheduled) == [JobState.CANCELLED, JobState.CANCELLED]


def test_cancel_by_filter_asks_first(shared_url: str, jobs: dict[str, list[str]]) -> None:
    later, mail = jobs["scheduled"]
    refused = cli.invoke(app, ["cancel", "--queue", "mail", "--url", shared_url], input="no\n")
    assert refused.exit_code == 1 and "Cancel 1 job?" in refused.stderr
    assert states(shared_url, [mail]) == [JobState.SCHEDULED]
    out = cli.invoke(app, ["cancel", "--queue", "mail", "--url", shared_url], input="y\n")
    assert out.exit_code == 0 and out.stdout.endswith("\ncancelled 1 job\n")
    assert states(shared_url, [later, mail]) == [JobState.SCHEDULED, JobState.CANCELLED]
    every = cli.invoke(app, ["cancel", "--state", "scheduled", "-y", "--url", shared_url])
    assert (every.exit_code, every.stdout) == (0, "cancelled 1 job\n")
    assert states(shared_url, [later]) == [JobState.CANCELLED]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retry"], "give job ids, or filters"),
        (["cancel"], "give job ids, or filters"),
        (["retry", "some-id", "--queue", "feeds"], "not both"),
        (["cancel", "--state", "succeeded"], "--state succeeded: this command acts on jobs"),
        (["retry", "--state", "running"], "--state running: this command acts on jobs"),
        (["retry", "--state", "done"], "unknown job state 'done'"),
        (["cancel", "--queue", "no spaces"], "is not allowed"),
        (["cancel", "--task", "bad name"], "task name"),
    ],
)
def test_bad_selections_are_usage_errors(shared_url: str, args: list[str], message: str) -> None:
    out = cli.invoke(app, [*args, "--url", shared_url])
    assert out.exit_code == 2 and message in out.stderr, out.output


def test_delete_removes_finished_jobs_only(shared_url: str, jobs: dict[str, list[str]]) -> None:
    (ok,), failed, (later, _) = jobs["succeeded"], jobs["failed"], jobs["scheduled"]
    out = cli.invoke(app, ["delete", ok, *failed, "--url", shared_url])
    assert (out.exit_code, out.stdout) == (0, "deleted 3 jobs\n")
    assert states(shared_url, [ok, *failed]) == [None, None, None]
    listed = orjson.loads(cli.invoke(app, ["jobs", "--url", shared_url, "--json"]).stdout)
    assert ok not in {job["id"] for job in listed["jobs"]}
    refused = cli.invoke(app, ["delete", later, ok, "--url", shared_url])
    assert refused.exit_code == 1 and refused.stdout == "deleted 0 jobs\n"
    assert f"error: job {later} is scheduled: only finished jobs can be deleted" in refused.stderr
    assert f"error: no job with id '{ok}'" in refused.stderr
    assert states(shared_url, [later]) == [JobState.SCHEDULED]
    assert cli.invoke(app, ["cancel", later, "--url", shared_url]).exit_code == 0
    assert cli.invoke(app, ["delete", later, "--url", shared_url]).stdout == "deleted 1 job\n"
    assert cli.invoke(app, ["delete", "--url", shared_url]).exit_code == 2  # an id is needed


def test_cancel_asks_running_jobs_to_stop(shared_url: str) -> None:
    async def claimed(runner: TaskRunner) -> str:
        job = await runner.tasks["ops.fetch"].options(queue="busy").enqueue("https://a.example")
        await runner.connect()
        await runner.backend.claim(["busy"], 1, "worker-elsewhere", 30)
        return job.id

    job_id = run(shared_url, claimed)
    out = cli.invoke(
        app, ["cancel", "--queue", "busy", "--state", "running", "-y", "--url", shared_url]
    )
    assert out.exit_code == 0, out.output
    assert out.stdout == "1 running job: asked to stop\ncancelled 0 jobs\n"
    assert states(shared_url, [job_id]) == [JobState.RUNNING]  # until its worker's heartbeat
