"""Every code block of the documentation (docs/*.md and the README) is run or checked.

- Python blocks run, page by page, in order, in one namespace per page, the way they read:
  top-level `await` runs on one event loop per page (as in `python -m asyncio`).
- The conformance-suite example of the testing page runs as a pytest module of its own.
- Python blocks with a `title="file.py"` are files of a walkthrough that its own test
  writes out and runs with the page's commands (test_getting_started.py).
- Blocks that only hold `--8<-- "examples/..."` lines include a file of an example that
  the example's own test runs.
- Shell blocks: `taskrunner ...` command lines are parsed by the real CLI; paths and
  modules of the examples that commands name must exist.
- YAML blocks (Kubernetes manifests) parse, and the worker's grace fits in the pod's.
- TOML blocks parse, and register entry points in the group taskrunner reads.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import taskrunner
import taskrunner.backend.plugins
from tests.examples.conftest import REPO
from tests.examples.markdown_blocks import (
    Block,
    check_taskrunner_command,
    code_blocks,
    shell_commands,
)

PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
PYTHON = {"python", "py"}
SHELL = {"bash", "sh", "shell", "console"}
WALKTHROUGHS = {"getting-started.md"}  # pages whose titled Python blocks are files
EXAMPLE_TESTS = "".join(path.read_text() for path in (REPO / "tests" / "examples").glob("*.py"))


def blocks_of(languages: set[str]) -> list[tuple[Path, list[Block]]]:
    found = []
    for page in PAGES:
        blocks = [b for b in code_blocks(page) if b.language in languages and not b.included]
        if blocks:
            found.append((page, blocks))
    return found


def ids(pages: list[tuple[Path, list[Block]]]) -> list[str]:
    return [page.name for page, _ in pages]


def test_every_block_is_run_checked_or_included() -> None:
    for page in PAGES:
        for block in code_blocks(page):
            if block.included:
                for path in block.included:
                    assert (REPO / path).is_file(), f"{block.where}: no file {path}"
                    if path.startswith("tests/examples/test_"):
                        continue  # a test of the suite: it runs itself
                    assert path.startswith(("examples/", "tests/examples/conftest.py")), (
                        f"{block.where}: include {path}, not an example"
                    )
                    # the example's own test names it: by path, or as a module
                    module = path.removesuffix(".py").replace("/", ".")
                    named = path in EXAMPLE_TESTS or module in EXAMPLE_TESTS
                    parent = str(Path(path).parent.name)
                    assert named or f'"{parent}"' in EXAMPLE_TESTS, (
                        f"{block.where}: no test in tests/examples runs {path}"
                    )
            elif block.language in PYTHON:
                if block.title is not None:
                    assert page.name in WALKTHROUGHS, (
                        f"{block.where}: a titled Python block outside a walkthrough"
                    )
            elif block.language == "text" and page.name == "architecture.md":
                continue  # the map of the parts: tests/test_architecture.py checks it
            elif block.language == "json" and page.name == "any-language.md":
                continue  # the job document: tests/test_job_format.py reads it
            elif block.language not in SHELL | {"yaml", "toml"}:
                pytest.fail(f"{block.where}: a {block.language or 'plain'} block no test checks")


# -- Python ----------------------------------------------------------------------------------


def run_blocks(blocks: list[Block]) -> None:
    namespace: dict[str, Any] = {"__name__": "app"}  # the pages read as one module, app.py
    loop = asyncio.new_event_loop()
    try:
        for block in blocks:
            source = "\n" * (block.line - 1) + block.body  # tracebacks show the page's lines
            code = compile(source, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            if code.co_flags & inspect.CO_COROUTINE:
                loop.run_until_complete(asyncio.wait_for(eval(code, namespace), 30))
            else:
                exec(code, namespace)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


PYTHON_PAGES = blocks_of(PYTHON)


@pytest.mark.parametrize(("page", "blocks"), PYTHON_PAGES, ids=ids(PYTHON_PAGES))
def test_python_blocks_run(
    page: Path, blocks: list[Block], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASKRUNNER_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    run_blocks([block for block in blocks if block.title is None])


def test_the_conformance_suite_runs_as_the_testing_page_shows(tmp_path: Path) -> None:
    (block,) = [
        block
        for block in code_blocks(REPO / "docs" / "testing.md")
        if "(BackendConformance)" in block.body
    ]
    module = tmp_path / "test_my_backend.py"
    module.write_text(block.body)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None and int(passed[1]) >= 30, done.stdout


# -- shell -----------------------------------------------------------------------------------


def check_command(words: list[str], where: str) -> None:
    program, args = words[0], words[1:]
    if program == "taskrunner":
        try:
            check_taskrunner_command(args)
        except Exception as exc:
            raise AssertionError(f"{where}: `{' '.join(words)}` does not parse: {exc}") from exc
    elif program == "python" and args and args[0].startswith("examples/"):
        assert (REPO / args[0]).is_file(), f"{where}: no {args[0]}"
    elif program == "uvicorn" and args and args[0].startswith("examples."):
        module = args[0].split(":")[0]
        assert (REPO / (module.replace(".", "/") + ".py")).is_file(), f"{where}: no {module}"


SHELL_PAGES = blocks_of(SHELL)


@pytest.mark.parametrize(("page", "blocks"), SHELL_PAGES, ids=ids(SHELL_PAGES))
def test_shell_commands_parse(page: Path, blocks: list[Block]) -> None:
    for block in blocks:
        for words in shell_commands(block.body):
            check_command(words, block.where)


def test_the_shell_checks_catch_mistakes() -> None:
    with pytest.raises(AssertionError, match="does not parse"):
        check_command(["taskrunner", "run", "app:runner", "--concurency", "4"], "here")
    with pytest.raises(AssertionError, match="does not parse"):
        check_command(["taskrunner", "run", "app:runner", "--grace", "soon"], "here")
    with pytest.raises(AssertionError, match="does not parse"):
        check_command(["taskrunner", "run", "app.runner"], "here")
    assert shell_commands("$ FOO=1 uv run taskrunner run a:b \\\n  --burst  # note\n") == [
        ["taskrunner", "run", "a:b", "--burst"]
    ]


# -- YAML ------------------------------------------------------------------------------------


def test_kubernetes_manifests_give_workers_time_to_drain() -> None:
    checked = 0
    for _, blocks in blocks_of({"yaml"}):
        for block in blocks:
            for document in yaml.safe_load_all(block.body):
                if document.get("kind") != "Deployment":
                    continue
                pod = document["spec"]["template"]["spec"]
                for container in pod["containers"]:
                    words = [*container.get("command", []), *container.get("args", [])]
                    if "taskrunner" not in words:
                        continue
                    check_command(words[words.index("taskrunner") :], block.where)
                    grace = float(words[words.index("--grace") + 1])
                    assert pod["terminationGracePeriodSeconds"] > grace, block.where
                    checked += 1
    assert checked, "the workers page shows a Kubernetes Deployment"


# -- TOML ------------------------------------------------------------------------------------


def test_toml_blocks_register_backends_where_taskrunner_looks() -> None:
    groups = {
        group
        for _, blocks in blocks_of({"toml"})
        for block in blocks
        for group in tomllib.loads(block.body)["project"]["entry-points"]
    }
    assert groups == {"taskrunner.backends"}
    assert groups == {taskrunner.backend.plugins.GROUP}


# -- the API reference -----------------------------------------------------------------------


def test_the_reference_covers_the_public_api() -> None:
    text = (REPO / "docs" / "reference.md").read_text()
    documented = set(re.findall(r"^::: ([\w.]+)$", text, re.M))
    public = {f"taskrunner.{name}" for name in taskrunner.__all__}
    public |= {
        "taskrunner.testing.BackendConformance",
        "taskrunner.memory.MemoryBackend",
        "taskrunner_redis.RedisBackend",
        "taskrunner_postgres.PostgresBackend",
        "taskrunner_postgres.PostgresSettings",
    }
    assert public <= documented, f"missing from docs/reference.md: {sorted(public - documented)}"
