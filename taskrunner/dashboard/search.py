"""Finding jobs: the filters of the job list (state, queue, task, an id prefix, text in the
arguments), combined. State, queue and task are the backend's own filters (`list_jobs`);
an id prefix (hex digits, dashes optional) starts the listing where its ids end (ids are
UUIDv7 text, which sorts by time) and stops where they begin; argument text is
matched here, on the arguments as the dashboard shows them (secrets masked), over at most
`SCAN_LIMIT` jobs per page of results, on every backend alike."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import QueryParams

from taskrunner._present import shown_job
from taskrunner.dashboard.html import as_json
from taskrunner.errors import ConfigurationError
from taskrunner.job import JobInfo
from taskrunner.queries import JobPage
from taskrunner.runner import TaskRunner

ID_PREFIX = re.compile(r"(?=.*[0-9a-f])[0-9a-f-]{1,36}")
JOB_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
TEXT_MAX = 200
SCAN_PAGE = 500  # jobs read per round trip while matching argument text
SCAN_LIMIT = 2000  # jobs looked at for one page of argument-text results


def valid_job_id(text: str) -> bool:
    """Whether `text` can be a job id (the dashboard asks the backend only about those)."""
    return JOB_ID.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Search:
    """The filters of one job list, all of which a job must match; `before` pages on."""

    state: str | None = None
    queue: str | None = None
    task: str | None = None
    id_prefix: str | None = None
    text: str | None = None
    before: str | None = None

    @classmethod
    def from_query(cls, query: QueryParams) -> Search:
        """The filters in a query string; a `ConfigurationError` for one that cannot be."""
        prefix = (query.get("id") or "").strip().lower() or None
        if prefix is not None and (
            not ID_PREFIX.fullmatch(prefix) or len(prefix.replace("-", "")) > 32
        ):
            raise ConfigurationError(
                f"{prefix[:40]!r} is not the start of a job id (hex digits and dashes)"
            )
        text = (query.get("text") or "").strip() or None
        if text is not None and len(text) > TEXT_MAX:
            raise ConfigurationError(f"the argument text is limited to {TEXT_MAX} characters")
        before = query.get("before") or None
        return cls(
            state=query.get("state") or None,
            queue=query.get("queue") or None,
            task=query.get("task") or None,
            id_prefix=prefix,
            text=text,
            before=before if before is not None and valid_job_id(before) else None,
        )

    def query(self, **changes: str | None) -> dict[str, str | None]:
        """The query string fields of these filters, with `changes`."""
        fields = {
            "state": self.state,
            "queue": self.queue,
            "task": self.task,
            "id": self.id_prefix,
            "text": self.text,
            "before": self.before,
        }
        return {**fields, **changes}

    @property
    def digits(self) -> str | None:
        """The id prefix's hex digits, without dashes (typed in their places or not)."""
        return None if self.id_prefix is None else self.id_prefix.replace("-", "")

    def start(self) -> str | None:
        """The cursor to list from: `before`, moved down to the end of the id prefix."""
        end = None if self.digits is None else prefix_end(self.digits)
        if end is None:
            return self.before
        return end if self.before is None or self.before > end else self.before

    def matches(self, job: JobInfo) -> bool:
        """Whether a job (as shown: secrets masked) matches the id prefix and the text."""
        if self.digits is not None and not job.id.replace("-", "").startswith(self.digits):
            return False
        if self.text is None:
            return True
        arguments = as_json({"args": job.args, "kwargs": job.kwargs})
        return self.text.casefold() in arguments.casefold()


def prefix_end(digits: str) -> str | None:
    """The smallest id (canonical UUID text) after every id starting with these hex digits:
    the cursor that lists them first, as ids sort as text (None: no id comes after)."""
    following = int(digits, 16) + 1 if digits else 0
    if not digits or following >> (4 * len(digits)):
        return None
    text = f"{following:0{len(digits)}x}".ljust(32, "0")[:32]
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True, slots=True)
class Found:
    """A page of search results; `looked` counts the jobs read when the scan stopped short
    (None: it did not), `next` is the cursor for more."""

    jobs: list[JobInfo]
    next: str | None
    looked: int | None = None


async def find_jobs(runner: TaskRunner, search: Search, limit: int) -> Found:
    """Up to `limit` jobs matching every filter of `search`, newest first, as shown."""
    cursor = search.start()
    step = SCAN_PAGE if search.text is not None else limit
    found: list[JobInfo] = []
    looked = 0
    while looked < SCAN_LIMIT:
        page = await list_page(runner, search, cursor, step)
        for job in page.jobs:
            looked += 1
            if search.digits is not None and job.id.replace("-", "") < search.digits:
                return Found(found, None)  # ids sort as text: no older one has the prefix
            shown = shown_job(job, runner.tasks)
            if search.matches(shown):
                found.append(shown)
                if len(found) == limit:
                    return Found(found, job.id)
        if page.next is None:
            return Found(found, None)
        cursor = page.next
    return Found(found, cursor, looked)


async def list_page(runner: TaskRunner, search: Search, cursor: str | None, step: int) -> JobPage:
    return await runner.list_jobs(
        state=search.state, queue=search.queue, task=search.task, before=cursor, limit=step
    )
