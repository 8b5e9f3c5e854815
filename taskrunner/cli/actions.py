"""The commands that change jobs by id or by filter: `retry`, `cancel`, `delete`.

`retry` and `cancel` take job ids, or filters (`--queue`, `--task`, `--state`) that pick
every matching job: a bulk action, which says how many jobs it matches and asks before it
acts (`--yes` does not ask). Each prints how many jobs it changed, and one `error:` line per
id it could not act on (exit status 1 then).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

import typer

from taskrunner import _validation as validation
from taskrunner.backend import JobDeletion, JobState
from taskrunner.cli._app import EXIT_FAILED, AppOpt, UrlOpt, fail, with_runner
from taskrunner.cli.render import plural, whole_id_hint
from taskrunner.errors import ConfigurationError, TaskrunnerError
from taskrunner.queries import parse_state
from taskrunner.runner import TaskRunner

PAGE = 500  # jobs listed, and changed, per round trip
RETRYABLE = (JobState.FAILED, JobState.CANCELLED, JobState.SCHEDULED)
CANCELLABLE = (JobState.WAITING, JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING)
CHANGED_BY_CANCEL = (JobState.CANCELLED, JobState.RUNNING)  # cancelled, or asked to stop
T = TypeVar("T")

IdsArg = Annotated[list[str] | None, typer.Argument(metavar="ID", help="Job ids.")]
QueueFilter = Annotated[str | None, typer.Option(help="Every matching job of this queue.")]
TaskFilter = Annotated[str | None, typer.Option(help="Every matching job of this task.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Act on a filter without asking.")]


def state_filter(default: Sequence[JobState]) -> object:
    """The `--state` option of a command whose filters pick jobs in `default` states."""
    names = ", ".join(state.value for state in default)
    return typer.Option(help=f"Every matching job in this state (repeatable; default: {names}).")


@dataclass(frozen=True, slots=True)
class Selection:
    """The jobs a command acts on: ids, or the jobs that match filters (a bulk action)."""

    ids: tuple[str, ...] = ()
    queue: str | None = None
    task: str | None = None
    states: tuple[JobState, ...] = ()

    def described(self) -> str:
        shown = [f"queue {self.queue}"] if self.queue else []
        shown += [f"task {self.task}"] if self.task else []
        return ", ".join([*shown, "state " + " or ".join(s.value for s in self.states)])


def select(
    ids: list[str] | None,
    queue: str | None,
    task: str | None,
    states: list[str] | None,
    allowed: Sequence[JobState],
    default: Sequence[JobState],
) -> Selection:
    """The selection the arguments make: ids, or filters (never both), checked."""
    if ids and (queue or task or states):
        raise fail("give job ids or filters (--queue, --task, --state), not both")
    if ids:
        return Selection(ids=tuple(dict.fromkeys(ids)))
    if not (queue or task or states):
        raise fail("give job ids, or filters (--queue, --task, --state) to pick jobs")
    try:
        chosen = tuple(dict.fromkeys(parse_state(s) for s in states)) if states else tuple(default)
        selection = Selection(
            queue=None if queue is None else validation.queue_name(queue),
            task=None if task is None else validation.task_name(task),
            states=chosen,
        )
    except TaskrunnerError as exc:
        raise fail(str(exc)) from None
    if wrong := [state for state in selection.states if state not in allowed]:
        names = ", ".join(state.value for state in allowed)
        raise fail(f"--state {wrong[0].value}: this command acts on jobs that are {names}")
    return selection


async def matching(runner: TaskRunner, selection: Selection) -> list[str]:
    """The ids of every job the filters of `selection` match now."""
    found: list[str] = []
    for state in selection.states:
        before: str | None = None
        while True:
            page = await runner.list_jobs(
                queue=selection.queue, task=selection.task, state=state, limit=PAGE, before=before
            )
            found += [info.id for info in page.jobs]
            if page.next is None:
                break
            before = page.next
    return found


def confirm(verb: str, count: int, selection: Selection, yes: bool) -> None:
    """Say how many jobs a bulk action matches, and ask before acting (unless `yes`): the
    command ends, changing nothing, unless the answer is yes."""
    typer.echo(f"{count} {plural(count, 'job')} match ({selection.described()})", err=True)
    if count == 0 or yes:
        return
    question = f"{verb} {count} {plural(count, 'job')}?"
    try:
        answer = typer.confirm(question, default=False, err=True)
    except typer.Abort:  # no answer: the end of the input, or Ctrl-C
        answer = False
    if not answer:
        raise fail("not confirmed: nothing changed (--yes acts without asking)", EXIT_FAILED)


async def chosen_ids(runner: TaskRunner, selection: Selection, verb: str, yes: bool) -> list[str]:
    """The ids to act on: those given, or (once confirmed) those the filters match."""
    if selection.ids:
        return list(selection.ids)
    ids = list(dict.fromkeys(await matching(runner, selection)))  # a job may move meanwhile
    confirm(verb, len(ids), selection, yes)
    return ids


async def in_pages(
    ids: Sequence[str], act: Callable[[Sequence[str]], Awaitable[list[T]]]
) -> list[T]:
    """`act` on `ids`, PAGE at a time; its answers, one per id."""
    answers: list[T] = []
    for start in range(0, len(ids), PAGE):
        answers += await act(ids[start : start + PAGE])
    return answers


def report(done: int, what: str, refusals: list[str]) -> None:
    """Print the count, one error line per refusal; exit 1 if there were refusals."""
    for line in refusals:
        typer.echo(f"error: {line}", err=True)
    typer.echo(what.format(count=done, jobs=f"{done} {plural(done, 'job')}"))
    if refusals:
        raise typer.Exit(EXIT_FAILED)


def unknown(job_id: str) -> str:
    return (
        f"no job with id {job_id!r} (never enqueued, or its record expired){whole_id_hint(job_id)}"
    )


async def refusals(
    runner: TaskRunner, ids: Sequence[str], done: Sequence[bool], allowed: str
) -> list[str]:
    """Why each id that was not acted on was not: unknown, or in a state not `allowed`."""
    left = [job_id for job_id, ok in zip(ids, done, strict=True) if not ok]
    records = await in_pages(left, runner.backend.get)
    return [
        unknown(job_id) if record is None else f"job {job_id} is {record.state.value}: {allowed}"
        for job_id, record in zip(left, records, strict=True)
    ]


async def cancel_each(runner: TaskRunner, ids: Sequence[str]) -> tuple[int, list[str], list[str]]:
    """Cancel the jobs not finished among `ids`: how many were cancelled, the running ones
    asked to stop, and why the others were not cancelled."""
    records = await in_pages(ids, runner.backend.get)
    live = [r.id for r in records if r is not None and not r.state.finished]
    after = await in_pages(live, lambda page: runner.backend.cancel(page, runner.result_ttl))
    states = dict(zip(live, after, strict=True))
    running = [job_id for job_id in live if states[job_id] is JobState.RUNNING]
    refused = []
    for job_id, record in zip(ids, records, strict=True):
        if job_id in states:  # cancelled, asked to stop, or ended (or gone) meanwhile
            state = states[job_id]
            if state in CHANGED_BY_CANCEL:
                continue
        else:
            state = None if record is None else record.state
        refused.append(
            unknown(job_id) if state is None else f"job {job_id} is already {state.value}"
        )
    cancelled = sum(state is JobState.CANCELLED for state in states.values())
    return cancelled, running, refused


def retry(
    job_ids: IdsArg = None,
    app_path: AppOpt = None,
    url: UrlOpt = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every failed job (--state failed).")
    ] = False,
    queue: QueueFilter = None,
    task: TaskFilter = None,
    state: Annotated[list[str] | None, state_filter([JobState.FAILED])] = None,
    yes: YesOpt = False,
) -> None:
    """Run failed or cancelled jobs again, or scheduled ones now.

    By id, or every job the filters match (after a confirmation)."""
    states = [*(state or []), *([JobState.FAILED.value] if failed else [])]
    selection = select(job_ids, queue, task, states or None, RETRYABLE, [JobState.FAILED])
    allowed = "only failed, cancelled and scheduled jobs can be retried"

    async def work(runner: TaskRunner) -> tuple[int, list[str]]:
        ids = await chosen_ids(runner, selection, "Retry", yes)
        done = await in_pages(ids, runner.backend.retry)
        return sum(done), await refusals(runner, ids, done, allowed)

    count, refused = with_runner(app_path, url, work)
    report(count, "queued {jobs} again", refused)


def cancel(
    job_ids: IdsArg = None,
    app_path: AppOpt = None,
    url: UrlOpt = None,
    queue: QueueFilter = None,
    task: TaskFilter = None,
    state: Annotated[list[str] | None, state_filter(CANCELLABLE)] = None,
    yes: YesOpt = False,
) -> None:
    """Cancel jobs: at once if waiting, at the next heartbeat if running.

    By id, or every job the filters match (after a confirmation)."""
    selection = select(job_ids, queue, task, state, CANCELLABLE, CANCELLABLE)

    cancelled, running, refused = with_runner(
        app_path, url, lambda runner: cancel_each_chosen(runner, selection, yes)
    )
    if len(selection.ids) == 1 and not refused:
        (job_id,) = selection.ids
        said = "is running: its worker was asked to stop it" if running else "cancelled"
        typer.echo(f"job {job_id} {said}")
        return
    if running:
        typer.echo(f"{len(running)} running {plural(len(running), 'job')}: asked to stop")
    report(cancelled, "cancelled {jobs}", refused)


async def cancel_each_chosen(
    runner: TaskRunner, selection: Selection, yes: bool
) -> tuple[int, list[str], list[str]]:
    return await cancel_each(runner, await chosen_ids(runner, selection, "Cancel", yes))


def delete(
    job_ids: Annotated[list[str], typer.Argument(metavar="ID", help="Job ids.")],
    app_path: AppOpt = None,
    url: UrlOpt = None,
) -> None:
    """Delete finished jobs by id, with their records.

    Only succeeded, failed or cancelled jobs: cancel a job first to delete it before it ends.

    `purge` deletes jobs by state and age."""
    ids = list(dict.fromkeys(job_ids))
    allowed = "only finished jobs can be deleted (cancel it first)"

    async def work(runner: TaskRunner) -> tuple[int, list[str]]:
        backend = await runner.connected()
        if not isinstance(backend, JobDeletion):
            raise ConfigurationError(f"the {type(backend).__name__} cannot delete single jobs")
        done = await in_pages(ids, backend.delete)
        return sum(done), await refusals(runner, ids, done, allowed)

    count, refused = with_runner(app_path, url, work)
    report(count, "deleted {jobs}", refused)
