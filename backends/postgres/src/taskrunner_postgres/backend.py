"""`PostgresBackend`: the backend protocol over one Postgres schema, with asyncpg.

Every state change is one SQL statement (see the package's `sql/` folder), every time is
the server's `now()`, and batches travel as arrays. Errors of the database or the network
are raised as `BackendError` (the worker retries them); the caller's own connection, given
for a transactional enqueue, raises asyncpg's errors untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg

from taskrunner.backend import (
    Backend,
    Batches,
    Beat,
    CancelSignals,
    Dependencies,
    HasUrl,
    Inspection,
    JobRecord,
    JobState,
    LeaseStatus,
    Migrations,
    NewJob,
    Outcome,
    TaskRegistry,
    TransactionalEnqueue,
    redact,
)
from taskrunner.backend.inspection import MINUTES_KEPT
from taskrunner.errors import BackendError, ConfigurationError
from taskrunner_postgres.abilities import PostgresAbilities
from taskrunner_postgres.batches import enqueue_members
from taskrunner_postgres.claiming import ClaimMarks
from taskrunner_postgres.errors import DATABASE_ERRORS
from taskrunner_postgres.listen import Listener
from taskrunner_postgres.migrate import apply_migrations, pending_migrations
from taskrunner_postgres.queries import Queries
from taskrunner_postgres.records import (
    STATES,
    attempt_records,
    canonical_id,
    enqueue_arguments,
    finish_arguments,
    job_arguments,
    job_record,
)
from taskrunner_postgres.settings import PostgresSettings, parse_url
from taskrunner_postgres.store import PostgresStore, keep_session
from taskrunner_postgres.windows import enqueue_windowed

KEY_RACE_ROUNDS = 5
ATTEMPTS_COLUMN = 28  # in a row of sql/get.sql, after the record's columns
UNFINISHED = ["waiting", "queued", "scheduled", "running"]  # the states a cancel changes
# sql/heartbeat.sql answers, per beat, whether a cancel was asked (NULL: the lease is lost)
LEASE_STATUS = {None: LeaseStatus.LOST, True: LeaseStatus.CANCEL, False: LeaseStatus.HELD}


class PostgresBackend(PostgresAbilities):
    """Jobs in a Postgres table, claimed with `FOR UPDATE SKIP LOCKED`.

    `url` is a `postgresql://` URL; its query string may set `schema`, `migrate`, `pool_min`
    and `pool_max` (see `PostgresSettings`) besides asyncpg's own parameters such as
    `sslmode=verify-full&sslrootcert=/path/ca.pem`. `settings` gives defaults the URL
    overrides.
    """

    enqueue_lanes = 2  # `ConcurrentEnqueues`: one small call's commit overlaps another's

    def __init__(self, url: str, *, settings: PostgresSettings | None = None) -> None:
        self.url = url
        self._dsn, self.settings = parse_url(url, settings)
        self._queries = Queries.load(self.settings)
        self._store = PostgresStore(url)
        self.claim_marks = ClaimMarks()  # where this backend's claims start (claiming.py)
        given = {name for name, _ in parse_qsl(urlsplit(url).query)}
        self._server_settings = {"jit": "off"}
        if "application_name" not in given:
            self._server_settings["application_name"] = "taskrunner"
        self._listener = Listener(
            self._dsn, url, self.settings, self._queries, self._server_settings
        )

    def __repr__(self) -> str:
        return f"PostgresBackend({redact(self.url)!r}, schema={self.settings.schema!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the pool and apply pending migrations (unless `migrate` is off, in which
        case a schema that lacks migrations is an error)."""
        if self._store.pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self.settings.pool_min,
                max_size=self.settings.pool_max,
                timeout=self.settings.connect_timeout,
                server_settings=self._server_settings,
                reset=keep_session,
            )
        except DATABASE_ERRORS as exc:
            raise self._store.error("connecting", exc) from exc
        try:
            async with pool.acquire() as conn:
                await self._prepare_schema(conn)
        except BaseException:
            pool.terminate()
            raise
        self._store.pool = pool

    async def _prepare_schema(self, conn: Connection) -> None:
        try:
            if self.settings.migrate:
                await apply_migrations(conn, self._queries, self.settings)
                return
            missing = await pending_migrations(conn, self._queries, self.settings)
        except DATABASE_ERRORS as exc:
            raise self._store.error("migrating the schema", exc) from exc
        if missing:
            names = ", ".join(f"{m.version:04d}_{m.name}" for m in missing)
            raise ConfigurationError(
                f"schema {self.settings.schema!r} at {redact(self.url)} lacks migrations "
                f"({names}); run `taskrunner migrate --url ...` or leave migrate on"
            )

    async def migrate(self) -> list[str]:
        """Apply pending migrations now; answers their names (empty: already up to date)."""
        try:
            conn = await asyncpg.connect(
                self._dsn,
                timeout=self.settings.connect_timeout,
                server_settings=self._server_settings,
            )
        except DATABASE_ERRORS as exc:
            raise self._store.error("connecting", exc) from exc
        try:
            applied = await apply_migrations(conn, self._queries, self.settings)
        except DATABASE_ERRORS as exc:
            raise self._store.error("migrating the schema", exc) from exc
        finally:
            await conn.close()
        return [f"{m.version:04d}_{m.name}" for m in applied]

    async def close(self) -> None:
        """Stop listening and close the pool."""
        await self._listener.close()
        pool, self._store.pool = self._store.pool, None
        if pool is not None:
            await self._store.give_back_lane(pool)
            try:
                await asyncio.wait_for(pool.close(), 10.0)
            except (TimeoutError, *DATABASE_ERRORS):
                pool.terminate()

    # -- the protocol ----------------------------------------------------------------------

    async def now(self) -> float:
        value: float = await self._store.fetchval(
            "reading the clock", self._queries.now, again=True
        )
        return value

    async def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[str]:
        if not jobs:
            return []
        if connection is not None:
            return await self.enqueue_in_transaction(jobs, connection)
        # safe to repeat: a job already stored is not stored again
        return await self._store.on_lane("enqueueing", lambda conn: self._enqueue_on(conn, jobs))

    async def enqueue_in_transaction(self, jobs: Sequence[NewJob], connection: Any) -> list[str]:
        """Store jobs on the caller's asyncpg connection, inside its open transaction (see
        `TransactionalEnqueue`); asyncpg's errors reach the caller untouched."""
        if not isinstance(connection, asyncpg.Connection | asyncpg.pool.PoolConnectionProxy):
            raise ConfigurationError(
                "connection= takes an asyncpg connection (or one acquired from an "
                f"asyncpg pool), got {type(connection).__name__}"
            )
        if not jobs:
            return []
        return await self._enqueue_on(connection, jobs)

    async def _enqueue_on(self, target: Any, jobs: Sequence[NewJob]) -> list[str]:
        if any(job.batch_id is not None for job in jobs):
            return await enqueue_members(target, jobs, self._enqueue_checked)
        return await self._enqueue_checked(target, jobs)

    async def _enqueue_plain(self, target: Any, jobs: Sequence[NewJob]) -> list[str]:
        if len(jobs) == 1 and jobs[0].key is None:  # the short statement of a lone job
            await target.execute(self._queries.enqueue_one, *job_arguments(jobs[0]))
            return [jobs[0].id]
        if all(job.key is None for job in jobs):
            await target.execute(self._queries.enqueue, *enqueue_arguments(jobs, keyed=False))
            return [job.id for job in jobs]
        if any(job.key_ttl is not None for job in jobs):  # see windows.py
            return await enqueue_windowed(target, jobs, self._queries, self._enqueue_keyed)
        return await self._enqueue_keyed(target, jobs)

    async def _enqueue_keyed(self, target: Any, jobs: Sequence[NewJob]) -> list[str]:
        ids: list[str | None] = [None] * len(jobs)
        pending = list(range(len(jobs)))
        for _ in range(KEY_RACE_ROUNDS + 1):
            keyed = enqueue_arguments([jobs[i] for i in pending], keyed=True)
            rows = await target.fetch(self._queries.enqueue_keyed, *keyed)
            expired = [holder for holder, holder_expired in rows if holder_expired]
            if expired:  # a record past its retention holds no key: the next round takes it
                await target.execute(self._queries.drop_expired, expired)
            for i, (holder, holder_expired) in zip(pending, rows, strict=True):
                ids[i] = None if holder_expired else holder
            # a key holder committed (or was deleted) while the statement ran: ask again
            pending = [i for i in pending if ids[i] is None]
            if not pending:
                break
        if any(job_id is None for job_id in ids):
            raise BackendError("enqueue: a dedup key kept changing hands; try again")
        return [job_id for job_id in ids if job_id is not None]

    async def claim(
        self, queues: Sequence[str], limit: int, worker: str, lease: float
    ) -> list[JobRecord]:
        if limit <= 0 or not queues:
            return []
        names = list(dict.fromkeys(queues))
        full, marks = self.claim_marks.arguments(names)
        query = self._queries.claim
        rows = await self._store.fetch(
            "claiming jobs", query, names, limit, worker, float(lease), *marks
        )
        return [job_record(row) for row in self.claim_marks.learn(names, rows, full)]

    async def heartbeat(self, beats: Sequence[Beat], lease: float) -> list[LeaseStatus]:
        if not beats:
            return []
        rows = await self._store.fetch(
            "renewing leases",
            self._queries.heartbeat,
            [b.job_id for b in beats],
            [b.attempt for b in beats],
            [b.progress for b in beats],
            float(lease),
            again=True,
        )
        return [LEASE_STATUS[row[0]] for row in rows]

    async def finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        rows = await self._store.fetch(
            "reporting outcomes", self._queries.finish, *finish_arguments(outcomes)
        )
        applied = {row[0] for row in rows}
        return [position in applied for position in range(1, len(outcomes) + 1)]

    async def get(self, ids: Sequence[str]) -> list[JobRecord | None]:
        wanted = [canonical_id(job_id) for job_id in ids]
        valid = [job_id for job_id in wanted if job_id is not None]
        if not valid:
            return [None] * len(ids)
        rows = await self._store.fetch("reading jobs", self._queries.get, valid, again=True)
        found: dict[str, JobRecord] = {}
        for row in rows:
            record = found[row[0]] = job_record(row)
            record.attempts = attempt_records(record, row[ATTEMPTS_COLUMN])
        return [None if job_id is None else found.get(job_id) for job_id in wanted]

    async def cancel(self, ids: Sequence[str], ttl: float | None) -> list[JobState | None]:
        return await self.cancel_in(ids, ttl, UNFINISHED)

    async def cancel_in(
        self, ids: Sequence[str], ttl: float | None, states: list[str]
    ) -> list[JobState | None]:
        """`cancel` for the jobs among `ids` in `states` (others are left as they are)."""
        wanted = [canonical_id(job_id) for job_id in ids]
        valid = [job_id for job_id in wanted if job_id is not None]
        if not valid:
            return [None] * len(ids)
        rows = await self._store.fetch(
            "cancelling jobs",
            self._queries.cancel,
            valid,
            None if ttl is None else float(ttl),
            states,
            again=True,
        )
        states_after = {row[0]: STATES[row[1]] for row in rows}
        return [None if job_id is None else states_after.get(job_id) for job_id in wanted]

    def cancel_requests(self) -> AbstractAsyncContextManager[AsyncIterator[list[str]]]:
        """Listen for cancel requests of running jobs (see `CancelSignals`): `cancel()`
        notifies them, and the backend's LISTEN connection hears them."""
        return self._listener.cancel_requests()

    async def retry(self, ids: Sequence[str]) -> list[bool]:
        return await self._store.answered("retrying jobs", self._queries.retry, ids)

    async def reclaim(self) -> list[str]:
        settings = self.settings
        rows = await self._store.fetch(
            "reclaiming expired leases", self._queries.reclaim, settings.reclaim_batch, again=True
        )
        for _ in range(settings.prune_rounds):
            pruned = await self._store.fetchval(
                "pruning expired jobs", self._queries.prune, settings.prune_batch, again=True
            )
            if pruned < settings.prune_batch:
                break
        await self._store.fetch(
            "tidying counts and activity",
            self._queries.tidy,
            settings.schema,
            MINUTES_KEPT,
            again=True,
        )
        return [row[0] for row in rows]

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        listener = self._listener
        await listener.start()
        woken = listener.watch_queues(queues)
        try:
            due = await self._store.fetchval(
                "checking for due jobs", self._queries.next_due, list(queues), again=True
            )
            if due is not None and due <= 0:
                return
            limit = timeout if due is None else min(timeout, due)
            if not listener.healthy:
                limit = min(limit, self.settings.poll)
            await asyncio.wait({woken}, timeout=max(limit, 0.0))
        finally:
            listener.unwatch_queues(woken)

    async def wait_finished(self, job_id: str, timeout: float) -> JobRecord | None:
        canonical = canonical_id(job_id)
        if canonical is None:
            return None

        async def check() -> tuple[bool, JobRecord | None]:
            (record,) = await self.get([canonical])
            return record is None or record.state.finished, record

        return await self._listener.wait_finished(canonical, timeout, check)

    async def stats(self, queues: Sequence[str] | None = None) -> dict[str, dict[JobState, int]]:
        rows = await self._store.fetch(
            "counting jobs",
            self._queries.stats,
            None if queues is None else list(queues),
            again=True,
        )
        counts: dict[str, dict[JobState, int]] = {
            queue: dict.fromkeys(JobState, 0) for queue in queues or ()
        }
        for queue, *by_state in rows:
            counts[queue] = dict(
                zip(JobState, by_state, strict=True)
            )  # sql/stats.sql counts in this order
        return counts

    async def purge(
        self,
        states: Sequence[JobState],
        finished_before: float | None = None,
        queue: str | None = None,
    ) -> int:
        wanted = [JobState(state).value for state in states if state is not JobState.RUNNING]
        if not wanted:
            return 0
        deleted: int = await self._store.fetchval(
            "purging jobs",
            self._queries.purge,
            wanted,
            None if finished_before is None else float(finished_before),
            queue,
        )
        return deleted


if TYPE_CHECKING:
    from taskrunner_postgres.migrate import Connection

    _conforms: type[Backend] = PostgresBackend
    _inspects: type[Inspection] = PostgresBackend
    _signals: type[CancelSignals] = PostgresBackend
    _transactional: type[TransactionalEnqueue] = PostgresBackend
    _migrates: type[Migrations] = PostgresBackend
    _batches: type[Batches] = PostgresBackend
    _dependencies: type[Dependencies] = PostgresBackend
    _registry: type[TaskRegistry] = PostgresBackend
    _shows: type[HasUrl] = PostgresBackend
