"""The peers' virtualenvs under benchmarks/.envs/<peer>/, made on demand from the pinned
requirements in benchmarks/peers/<peer>/requirements.txt (never one env: pins conflict).

Every library runs byte-compiled, as pip leaves a package it installs: with
PYTHONDONTWRITEBYTECODE set (some CI images and shells set it) and nothing compiled, each
worker process would compile again every module it imports, some of them inside the timed
part of a drain (taskrunner's worker start loaded anyio's event-loop backend in 63 ms so, in
20 ms compiled)."""

from __future__ import annotations

import compileall
import functools
import hashlib
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from harness.libraries import BENCH_DIR, LibrarySpec

ENVS_DIR = BENCH_DIR / ".envs"
PEERS_DIR = BENCH_DIR / "peers"
STAMP = ".requirements.sha256"
ENV_FORMAT = "compiled"  # part of the stamp: an env made before its byte-compiling is remade


class EnvFailed(RuntimeError):
    """uv could not build a peer's virtualenv."""


def python_for(lib: LibrarySpec) -> Path:
    """The interpreter that runs the library's adapter, building its env if needed."""
    if lib.env is None:
        _compile_own_env()
        return Path(sys.executable)
    return ensure_env(lib.env)


@functools.cache
def _compile_own_env() -> None:
    """Byte-compile this interpreter's packages and taskrunner's own sources (once a run;
    what is compiled already is only checked)."""
    paths = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    paths |= {str(BENCH_DIR / "adapters"), str(BENCH_DIR.parent / "taskrunner")}
    paths.add(str(BENCH_DIR.parent / "backends"))
    for path in sorted(paths):
        compileall.compile_dir(path, quiet=1, workers=0)


def ensure_env(peer: str) -> Path:
    env = ENVS_DIR / peer
    python = env / "bin" / "python"
    requirements = PEERS_DIR / peer / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes() + ENV_FORMAT.encode()).hexdigest()
    stamp = env / STAMP
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    print(f"building the {peer} env in {env} ...", file=sys.stderr, flush=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    _uv("venv", "--clear", "--quiet", "--python", version, str(env))
    _uv("pip", "sync", "--quiet", "--compile-bytecode", "--python", str(python), str(requirements))
    stamp.write_text(digest + "\n")
    return python


def _uv(*args: str) -> None:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    try:
        done = subprocess.run(["uv", *args], env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise EnvFailed("uv is not on PATH; it builds the peers' envs") from None
    if done.returncode != 0:
        raise EnvFailed(f"uv {' '.join(args)}: {done.stderr.strip()}")
