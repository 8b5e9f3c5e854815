"""Run the benchmarks: taskrunner side by side with its peers on one backend.

    uv run benchmarks/run.py --backend redis [--quick] [--rounds 3] [--only drain,latency]
                             [--only-taskrunner] [--size drain.n=50000] [--sqlite-dir DIR]

Workloads: enqueue, concurrent, batch, drain, drain-3, sleep, latency and, taskrunner only,
limit-drain, hot-key and rate-hold (`--only limits` names those three), batch-callback and
batch-drain (`--only batches`), sync-enqueue (`--only sync`) and telemetry-drain (`--only
telemetry`) are the default set; processes (the drain by 1, 2 and 4 worker processes), scale
and memory run on demand. See docs/benchmarks.md for the method.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.libraries import BACKENDS, PEERS
from harness.namespaces import ServerDown, Servers
from harness.plan import DEFAULT_WORKLOADS, workload, workloads
from harness.report import footnotes, save, table
from harness.session import Options, default_log_dir, run_session


def parse_sizes(items: list[str]) -> dict[str, dict[str, Any]]:
    """`drain.n=50000` → {"drain": {"n": 50000}}; `memory.checkpoints=1000,100000`."""
    sizes: dict[str, dict[str, Any]] = {}
    for item in items:
        target, _, raw = item.partition("=")
        name, _, key = target.partition(".")
        if not (name and key and raw):
            raise SystemExit(f"--size wants WORKLOAD.FIELD=VALUE, got {item!r}")
        workload(name)
        value: Any = [int(v) for v in raw.split(",")] if "," in raw else _scalar(raw)
        if key == "checkpoints" and not isinstance(value, list):
            value = [value]
        sizes.setdefault(name, {})[key] = value
    return sizes


def _scalar(raw: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def _peers(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    unknown = set(names) - {peer.name for peer in PEERS}
    if unknown:
        raise SystemExit(f"unknown peers: {', '.join(sorted(unknown))}")
    return names


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=BACKENDS, required=True)
    parser.add_argument("--quick", action="store_true", help="small N, one round")
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_WORKLOADS),
        help="workloads, comma-separated ('limits': the three flow-control ones, 'batches': the "
        "two batch ones, 'sync': the blocking enqueue)",
    )
    parser.add_argument("--only-taskrunner", action="store_true", help="skip the peers")
    parser.add_argument("--peers", default=None, help="only these peers, comma-separated")
    parser.add_argument("--size", action="append", default=[], metavar="WORKLOAD.FIELD=VALUE")
    parser.add_argument("--redis-url", default=Servers.redis)
    parser.add_argument("--postgres-url", default=Servers.postgres)
    parser.add_argument(
        "--sqlite-dir", type=Path, default=Servers.sqlite, help="where the SQLite files go"
    )
    parser.add_argument("--out", type=Path, default=None, help="where logs and results.json go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    try:
        chosen = workloads(args.only)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    options = Options(
        backend=args.backend,
        workloads=chosen,
        rounds=args.rounds or (1 if args.quick else 3),
        quick=args.quick,
        only_taskrunner=args.only_taskrunner,
        peers=_peers(args.peers),
        sizes=parse_sizes(args.size),
        servers=Servers(redis=args.redis_url, postgres=args.postgres_url, sqlite=args.sqlite_dir),
    )
    log_dir = args.out or default_log_dir(args.backend)
    try:
        with options.servers.exclusive(args.backend):
            results = run_session(options, log_dir)
    except ServerDown as error:
        print(f"cannot run on {args.backend}: {error}", file=sys.stderr)
        return 2
    save(results, log_dir / "results.json")
    print(table(results))
    print()
    print(footnotes(results))
    print(f"\nlogs and raw results: {log_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
