"""Fenced code blocks of the documentation, and checks for the ones that are not Python."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import typer.main

from taskrunner.cli import app as cli_app

_OPENING = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"$')
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, and its text (dedented)."""

    path: Path
    line: int  # line number of the first line of `body` in the file
    language: str
    info: str
    body: str

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def title(self) -> str | None:
        found = _TITLE.search(self.info)
        return found["title"] if found else None

    @property
    def included(self) -> list[str]:
        """The files a snippet block includes (`--8<-- "path"` or `"path:section"` lines);
        [] for other blocks."""
        lines = [line.strip() for line in self.body.splitlines() if line.strip()]
        found = [_SNIPPET.match(line) for line in lines]
        if lines and all(found):
            return [match["path"].split(":")[0] for match in found if match]
        return []


def code_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = _OPENING.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        info = opening["info"].strip()
        body: list[str] = []
        i += 1
        start = i + 1
        while i < len(lines) and lines[i].rstrip() != indent + fence:
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        language = info.split()[0].lower() if info else ""
        blocks.append(Block(path, start, language, info, "\n".join(body) + "\n"))
        i += 1
    return blocks


# -- shell ---------------------------------------------------------------------------------------


def shell_commands(body: str) -> list[list[str]]:
    """The commands of a shell block as argument lists: prompts, comments, `VAR=value`
    prefixes and `uv run` removed; `export` lines kept as they are."""
    joined = re.sub(r"\\\n", " ", body)
    commands = []
    for line in joined.splitlines():
        line = line.strip().removeprefix("$ ")
        words = shlex.split(line, comments=True)
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            words = words[1:]
        if words[:2] == ["uv", "run"]:
            words = words[2:]
        if words:
            commands.append(words)
    return commands


def check_taskrunner_command(args: list[str]) -> None:
    """Parse `taskrunner ...` arguments as the CLI would, without running anything."""
    assert args, "a bare `taskrunner` command"
    group = typer.main.get_group(cli_app)
    context = group.make_context("taskrunner", list(args))
    command = group.get_command(context, args[0])
    assert command is not None, f"no `taskrunner {args[0]}` command"
    parsed = command.make_context(args[0], list(args[1:]), parent=context)
    app_path = parsed.params.get("app_path")
    if app_path is not None:
        assert re.fullmatch(r"[\w.]+:\w+", app_path), f"APP must be module:attribute: {app_path}"
