"""The Redis and Postgres limits the benchmark orchestrator measures in each round (a bare
round trip, Redis's ceiling for a no-op function call, a bare commit) and sets each
library's single awaited enqueue against; the probe leaves nothing behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import asyncpg
import redis

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from harness.invoke import Outcome
from harness.limits import BARE_INSERT_COMMIT, NOOP_FUNCTION, PING, THREAD_HANDOFF, measure
from harness.namespaces import Servers
from harness.plan import workload
from harness.report import footnotes
from harness.session import Options, Results

PYTHON = Path(sys.executable)
REDIS_URL = os.environ.get("TASKRUNNER_TEST_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "TASKRUNNER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def test_redis_limits_are_a_round_trip_and_a_noop_function_call(tmp_path: Path) -> None:
    figures = measure("redis", Servers(redis=REDIS_URL), True, PYTHON, tmp_path / "log")

    assert set(figures) == {PING, NOOP_FUNCTION, THREAD_HANDOFF}
    assert figures[PING] > 0
    assert figures[THREAD_HANDOFF] > 0
    assert figures[NOOP_FUNCTION] > figures[PING]  # the server alone beats any round trip
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.function_list(library="taskrunner_bench_limits") == []
    finally:
        client.close()


async def test_the_postgres_limit_is_a_bare_commit_and_leaves_no_schema(tmp_path: Path) -> None:
    base = POSTGRES_URL.rsplit("/", 1)[0]
    figures = measure("postgres", Servers(postgres=base), True, PYTHON, tmp_path / "log")

    assert set(figures) == {BARE_INSERT_COMMIT, THREAD_HANDOFF}
    assert figures[BARE_INSERT_COMMIT] > 0 and figures[THREAD_HANDOFF] > 0
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bench_limits_%'"
        )
    finally:
        await conn.close()
    assert left == 0


def test_each_enqueue_is_set_against_the_round_trip() -> None:
    results = Results(
        Options(
            backend="redis", workloads=(workload("enqueue"),), rounds=1, quick=True,
            only_taskrunner=False,
        )
    )  # fmt: skip
    results.limits[PING] += [10_000.0]
    results.limits[NOOP_FUNCTION] += [200_000.0]
    results.outcomes[("enqueue", "", "taskrunner")] = [Outcome("ok", {"rate": 6000.0})]

    lines = footnotes(results).splitlines()

    assert any("PING" in line and "10,000" in line for line in lines)
    assert "- taskrunner: one awaited enqueue at 0.60x the ping." in lines
    assert not any("noop function." in line for line in lines)
