"""Watching a Redis with MONITOR to prove every command and script keeps to one cluster slot.

A one-node cluster refuses a command whose own keys span slots (CROSSSLOT), but a script may
still touch keys of other slots there, since the node holds them all. MONITOR shows each
script run followed by the commands the script issued (marked `lua`), so this watcher can
check what a real multi-node cluster would: each script run touches only the slot of the key
it declares, and every other command keeps to one slot.
"""

from __future__ import annotations

import asyncio
import binascii
import re
from dataclasses import dataclass, field

import redis.asyncio as aioredis

SLOTS = 16384
_LINE = re.compile(r"^[\d.]+ \[\d+ (?P<source>[^\]]+)\] (?P<args>.*)$")
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")
_MARKER = b"slot-watcher-end"
_SCRIPT_CALLS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}


def key_slot(key: bytes) -> int:
    """The cluster slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole key."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return binascii.crc_hqx(key, 0) % SLOTS


def _unescape(text: str) -> bytes:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("x") and len(code) == 3:
            return chr(int(code[1:], 16))
        return {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b"}.get(code, code)

    return _ESCAPE.sub(one, text).encode("latin-1")


@dataclass
class Command:
    source: str  # a client's address, or "lua" for a command a script issued
    args: list[bytes]

    @property
    def name(self) -> str:
        return self.args[0].decode().lower()


def parse_line(line: str) -> Command | None:
    match = _LINE.match(line)
    if match is None:
        return None
    args = [_unescape(a) for a in _ARG.findall(match.group("args"))]
    return Command(match.group("source"), args) if args else None


@dataclass
class SlotWatcher:
    """Records every command a Redis runs while it is open; `violations()` judges them."""

    url: str
    commands: list[Command] = field(default_factory=list)
    _key_specs: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    _ended: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _monitor: aioredis.Redis | None = None

    async def __aenter__(self) -> SlotWatcher:
        self._monitor = aioredis.Redis.from_url(self.url)
        connection = self._monitor.connection_pool.make_connection()  # type: ignore[no-untyped-call]
        await connection.connect()
        await connection.send_command("MONITOR")
        assert await connection.read_response() in (b"OK", "OK")
        self._task = asyncio.create_task(self._read(connection))
        return self

    async def _read(self, connection: aioredis.Connection) -> None:
        try:
            while True:
                response = await connection.read_response()
                line = response.decode() if isinstance(response, bytes) else str(response)
                command = parse_line(line)
                if command is not None:
                    self.commands.append(command)
                    if command.args[-1:] == [_MARKER]:
                        self._ended.set()
        finally:
            await connection.disconnect()

    async def __aexit__(self, *exc: object) -> None:
        assert self._monitor is not None and self._task is not None
        await self._monitor.echo(_MARKER)  # everything before it has been seen once it is
        async with asyncio.timeout(10):
            await self._ended.wait()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._load_key_specs()
        await self._monitor.aclose()

    async def _load_key_specs(self) -> None:
        assert self._monitor is not None
        names = sorted({c.name for c in self.commands})
        infos = await self._monitor.execute_command(  # type: ignore[no-untyped-call]
            "COMMAND", "INFO", *names
        )
        for name, info in infos.items():
            spec = (info["first_key_pos"], info["last_key_pos"], info["step_count"])
            self._key_specs[name] = spec

    def keys_of(self, command: Command) -> list[bytes]:
        args = command.args
        if command.name in _SCRIPT_CALLS:
            return args[3 : 3 + int(args[2])]
        first, last, step = self._key_specs.get(command.name, (0, 0, 0))
        if first == 0:
            return []
        end = len(args) + last if last < 0 else last
        return [args[i] for i in range(first, min(end, len(args) - 1) + 1, step)]

    def violations(self) -> list[str]:
        """What a multi-node cluster would refuse, one line per offending command."""
        found: list[str] = []
        script: Command | None = None
        slot: int | None = None
        for command in self.commands:
            keys = self.keys_of(command)
            slots = {key_slot(k) for k in keys}
            if command.source != "lua":
                script, slot = (command, None) if command.name in _SCRIPT_CALLS else (None, None)
                if script is not None and len(slots) != 1:
                    found.append(f"{_show(command)}: a script must declare one slot's keys")
                elif len(slots) > 1:
                    found.append(f"{_show(command)}: keys in slots {sorted(slots)}")
                slot = next(iter(slots)) if len(slots) == 1 else None
            elif script is None:
                found.append(f"{_show(command)}: issued by a script MONITOR did not show")
            elif slots - {slot}:
                found.append(
                    f"{_show(command)} inside {_show(script)}: slot(s) {sorted(slots - {slot})}"
                    f" outside the declared slot {slot}"
                )
        return found


def _show(command: Command) -> str:
    shown = b" ".join(a[:60] for a in command.args[:5]).decode(errors="replace")
    return shown + (" ..." if len(command.args) > 5 else "")
