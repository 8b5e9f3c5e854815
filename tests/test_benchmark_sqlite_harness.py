"""SQLite in the benchmark harness: each library's own file, emptied around each run; the
disk's limit that the orchestrator measures and reports beside the libraries' enqueues; the
drains by worker processes (three, and one as workload 3c times it), which must account
for every job's body."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from harness.invoke import Outcome, run_adapter
from harness.libraries import PEERS, TASKRUNNER
from harness.limits import BARE_COMMIT, bare_commits, measure
from harness.namespaces import Servers
from harness.plan import workload
from harness.report import footnotes
from harness.session import Options, Results

from taskrunner_sqlite import SqliteBackend

HUEY = next(peer for peer in PEERS if peer.name == "huey")


def test_each_library_gets_a_file_of_its_own_that_a_reset_removes(tmp_path: Path) -> None:
    servers = Servers(sqlite=tmp_path / "files")
    servers.check("sqlite")  # makes the folder
    url = servers.url("sqlite", TASKRUNNER)
    assert url == f"sqlite:///{tmp_path / 'files' / 'bench_taskrunner.db'}"
    assert servers.url("sqlite", HUEY) != url
    left = [tmp_path / "files" / f"bench_taskrunner.db{suffix}" for suffix in ("", "-wal")]
    for path in left:
        path.write_bytes(b"old run")
    servers.reset("sqlite", TASKRUNNER)
    assert not any(path.exists() for path in left)


def test_the_bare_commit_limit_is_measured_on_sqlite_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    assert bare_commits(tmp_path, 20) > 0
    assert list(tmp_path.iterdir()) == []
    servers = Servers(sqlite=tmp_path)
    python = Path(sys.executable)
    assert set(measure("sqlite", servers, True, python, tmp_path / "log")) == {BARE_COMMIT}
    assert measure("memory", servers, True, python, tmp_path / "log") == {}
    assert list(tmp_path.iterdir()) == []


def test_the_footnotes_set_each_library_s_enqueue_against_the_bare_commit() -> None:
    results = Results(
        Options(
            backend="sqlite",
            workloads=(workload("enqueue"),),
            rounds=3,
            quick=False,
            only_taskrunner=False,
        )
    )
    results.limits[BARE_COMMIT] += [2000.0, 1000.0, 3000.0]
    results.outcomes[("enqueue", "", "taskrunner")] = [Outcome("ok", {"rate": 1500.0})]
    results.outcomes[("enqueue", "", "huey")] = [Outcome("ok", {"rate": 1000.0})]

    lines = footnotes(results).splitlines()

    assert any("BEGIN IMMEDIATE" in line and "2,000 (1,000-3,000)" in line for line in lines)
    assert "- taskrunner: one awaited enqueue at 0.75x the bare commit." in lines
    assert "- huey: one awaited enqueue at 0.50x the bare commit." in lines


@pytest.mark.parametrize(
    ("name", "phase", "workers"),
    [("drain-3", "", 3), ("processes", "1", 1)],  # 3c times one process as it times several
)
async def test_the_worker_processes_drain_every_stored_job(
    tmp_path: Path, name: str, phase: str, workers: int
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    spec: dict[str, object] = {"workload": name, "backend": "sqlite", "url": url}
    spec |= {"phase": phase, "n": 300, "concurrency": 20, "task": "noop", "workers": workers}
    spec["timeout"] = 120.0

    outcome = run_adapter(
        Path(sys.executable), TASKRUNNER.script, "bench", spec, tmp_path / "log", 120.0
    )

    assert outcome.status == "ok", outcome.message
    assert outcome.figures["rate"] > 0
    backend = SqliteBackend(url)
    await backend.connect()
    try:
        (counts,) = (await backend.stats(None)).values()
    finally:
        await backend.close()
    assert sum(n for state, n in counts.items() if state.finished) == 300
