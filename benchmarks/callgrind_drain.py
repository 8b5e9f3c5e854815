"""Instructions per drained job, memory backend, counted by callgrind (repeatable whatever
the machine's load, unlike a rate): `uv run benchmarks/callgrind_drain.py`.

Each count drains noop jobs (a task awaiting a noop coroutine, as in workload 3) stored
first by 1,000, after 200 warm-up jobs through a first worker: one worker, concurrency 50,
`burst=True`, a one-hour lease (no heartbeat on valgrind's slowed clock), `PYTHONHASHSEED=0`.
Valgrind runs with counting off; a small C helper (built here with `cc` and valgrind's
`callgrind.h`, loaded with `ctypes`) switches it on just before `worker.run()` and off after
it, so neither the start-up nor the enqueue is counted. Per job: the difference of two
drains' counts divided by the difference of their sizes (what a drain costs once cancels).
Needs valgrind, its headers and a C compiler. See docs/benchmarks.md, "The worker's core
per drained job".
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from taskrunner import TaskRunner

HELPER = """#include <valgrind/callgrind.h>
void counting_on(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_TOGGLE_COLLECT; }
void counting_off(void) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_STOP_INSTRUMENTATION; }
"""
WARMUP_JOBS = 200
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


async def drain(jobs: int, helper: ctypes.CDLL | None = None) -> int:
    """Store `jobs` noop jobs, then drain them with one worker (counted by `helper`'s
    switch, if given); answers how many job bodies ran, warm-up included."""
    ran = 0

    async def body() -> None:
        nonlocal ran
        ran += 1

    runner = TaskRunner("memory://")

    @runner.task(name="noop")
    async def noop(seq: int) -> None:
        del seq
        await body()

    await runner.connect()
    await runner.enqueue_many([noop.prepare(seq) for seq in range(WARMUP_JOBS)])
    await runner.worker(concurrency=50, burst=True, lease=3600.0).run()
    for start in range(0, jobs, 1000):
        await runner.enqueue_many([noop.prepare(s) for s in range(start, min(jobs, start + 1000))])
    worker = runner.worker(concurrency=50, burst=True, lease=3600.0)
    if helper is not None:
        helper.counting_on()
    await worker.run()
    if helper is not None:
        helper.counting_off()
    await runner.close()
    return ran


def collected(valgrind_output: str) -> int:
    """The instructions callgrind counted, from what it writes on stderr."""
    found = COLLECTED.search(valgrind_output)
    if found is None:
        raise RuntimeError(f"callgrind reported no count:\n{valgrind_output[-2000:]}")
    return int(found.group(1))


def per_job(small: tuple[int, int], large: tuple[int, int]) -> float:
    """Instructions per job from two (jobs, instructions) counts."""
    return (large[1] - small[1]) / (large[0] - small[0])


def count(jobs: int, helper: Path, python: str, workdir: Path) -> int:
    """Run one drain of `jobs` under callgrind and answer its count."""
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
        f"--callgrind-out-file={workdir / f'callgrind.{jobs}'}",
        python, __file__, "--drain", str(jobs), "--helper", str(helper),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return collected(done.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="5000,20000", help="the two drains' sizes")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to count")
    parser.add_argument("--drain", type=int, help=argparse.SUPPRESS)  # one counted drain
    parser.add_argument("--helper", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain is not None:
        helper = ctypes.CDLL(str(args.helper)) if args.helper else None
        asyncio.run(drain(args.drain, helper))
        return
    small, large = sorted(int(n) for n in args.jobs.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "helper.c").write_text(HELPER)
        library = workdir / "libcounting.so"
        build = ["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(workdir / "helper.c")]
        subprocess.run(build, check=True)
        counts = [(n, count(n, library, args.python, workdir)) for n in (small, large)]
    for jobs, instructions in counts:
        print(f"drain of {jobs:,} jobs: {instructions:,} instructions")
    print(f"per job: {per_job(counts[0], counts[1]):,.0f} instructions")


if __name__ == "__main__":
    main()
