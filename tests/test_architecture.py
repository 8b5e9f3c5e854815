"""The layout's rules, as docs/architecture.md states them: which way imports run, no
import circles (type-only imports included), modules and functions of a readable size,
and a map of the parts that names only what exists."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {
    "taskrunner": REPO / "taskrunner",
    "taskrunner_redis": REPO / "backends" / "redis" / "src" / "taskrunner_redis",
    "taskrunner_postgres": REPO / "backends" / "postgres" / "src" / "taskrunner_postgres",
    "taskrunner_sqlite": REPO / "backends" / "sqlite" / "src" / "taskrunner_sqlite",
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    found: dict[str, Path] = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = modules()


def imports_of(name: str) -> set[str]:
    """The modules of the three packages that `name` imports, at run time or for types."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:  # a submodule by name, else the names of `base`
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def reaches(start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def faces(name: str) -> bool:
    """A package's __init__ only hands names on: importing a submodule through it is no
    circle of modules."""
    return MODULES[name].name == "__init__.py"


def test_no_import_circles() -> None:
    circles = sorted(
        f"{a} <-> {b}"
        for a, targets in GRAPH.items()
        for b in targets
        if a < b and not faces(a) and not faces(b) and reaches(b, a)
    )
    assert not circles, "modules that import each other, directly or not:\n" + "\n".join(circles)


def under(prefix: str) -> list[str]:
    return [m for m in MODULES if m == prefix or m.startswith(prefix + ".")]


@pytest.mark.parametrize("module", under("taskrunner.backend"))
def test_the_contract_imports_nothing_above_it(module: str) -> None:
    allowed = ("taskrunner.backend", "taskrunner.errors", "taskrunner._json")
    above = {m for m in GRAPH[module] if not m.startswith(allowed)}
    assert not above, f"{module} imports {sorted(above)}"


@pytest.mark.parametrize(
    "module", under("taskrunner_redis") + under("taskrunner_postgres") + under("taskrunner_sqlite")
)
def test_a_backend_imports_only_the_contract_and_the_errors(module: str) -> None:
    own = module.split(".")[0]
    allowed = (own, "taskrunner.backend", "taskrunner.errors")
    other = {m for m in GRAPH[module] if not m.startswith(allowed)}
    assert not other, f"{module} imports {sorted(other)}"


@pytest.mark.parametrize("module", under("taskrunner"))
def test_the_core_never_imports_a_backend(module: str) -> None:
    backends = {m for m in GRAPH[module] if m.split(".")[0] != "taskrunner"}
    assert not backends, f"{module} imports {sorted(backends)}"


def test_the_core_never_imports_an_integration() -> None:
    integrations = under("taskrunner.contrib")
    core = [m for m in under("taskrunner") if m not in integrations]
    found = sorted(f"{m} imports {i}" for m in core for i in GRAPH[m] if i in integrations)
    assert not found, "\n".join(found)


def test_modules_stay_readable() -> None:
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_functions_fit_on_a_screen() -> None:
    long = sorted(
        f"{name}.{fn.name}: {fn.end_lineno - fn.lineno + 1} lines"
        for name, path in MODULES.items()
        for fn in functions(ast.parse(path.read_text()))
        if fn.end_lineno is not None and fn.end_lineno - fn.lineno + 1 > MAX_FUNCTION_LINES
    )
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_the_map_in_the_docs_names_what_exists() -> None:
    page = (REPO / "docs" / "architecture.md").read_text()
    tree = re.search(r"```text\n(taskrunner/\n.*?)```", page, re.S)
    assert tree is not None, "docs/architecture.md: the map of the parts is missing"
    named = re.findall(r"[├└]── ([\w./, ]+?)(?:\s{2,}|$)", tree.group(1), re.M)
    paths = [p.strip() for entry in named for p in entry.split(",")]
    assert paths, "the map names no parts"
    for path in paths:
        root = REPO if "/" in path.rstrip("/") else REPO / "taskrunner"
        assert (root / path).exists() or (REPO / "backends" / path).exists(), path
    parts = {p.rstrip("/") for p in paths}
    for child in (REPO / "taskrunner").iterdir():
        if child.is_dir() and (child / "__init__.py").exists():
            assert child.name in parts, f"taskrunner/{child.name}/ is missing from the map"
