"""The Redis 7 function libraries, built from the package's Lua files.

The backend's own functions make one library (`internal_library`), loaded with FUNCTION LOAD
by the first call that finds it missing (scripts.py). Its name and the names of its
functions carry a hash of its code (`taskrunner_<hash>`, `taskrunner_<hash>_claim`), so
two versions of taskrunner sharing a server during a rolling deploy each call their own
functions, and a load replaces only a library of the same code.

The prelude (common.lua, then flow.lua, batch.lua, deps.lua and store.lua) is written once
at the library's top level; each function is the body of one Lua file, run after
`begin(prefix)`, which empties the per-call state the prelude keeps (see common.lua).

Functions that only read are flagged `no-writes` (they run on a full Redis and on replicas);
those that free memory, `allow-oom` (purging and reclaiming run on a full Redis); the
others are refused by a full Redis before they write anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files

PRELUDE = ("common", "flow", "batch", "deps", "store")
FUNCTIONS = (
    "enqueue", "claim", "peek", "heartbeat", "finish", "cancel", "retry", "reclaim", "purge",
    "stats", "next_due", "activity", "watch", "register_worker", "workers", "resume",
    "batch_open", "batch_join", "batch_close", "batch_part", "batch_clean", "batch_index",
    "dep_register", "dep_read", "dep_judge", "dep_done",
)  # fmt: skip
FLAGS = {
    "stats": ("no-writes",),
    "activity": ("no-writes",),
    "dep_read": ("no-writes",),
    "purge": ("allow-oom",),
    "reclaim": ("allow-oom",),
}
_HASH = "@HASH@"  # where the library's hash goes in its code


def lua_source(name: str) -> str:
    """The text of `lua/<name>.lua`."""
    return (files("taskrunner_redis") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def prelude() -> str:
    """The code every function of a library shares."""
    return "\n".join(lua_source(name) for name in PRELUDE)


def register(function: str, body: str, flags: tuple[str, ...] = ()) -> str:
    """The Lua that registers `body` (a Lua file's text, which reads KEYS and ARGV, ARGV[1]
    being the key prefix) as the function named `function`."""
    shown = ", ".join(f"'{flag}'" for flag in flags)
    return (
        f"redis.register_function{{function_name = '{function}', flags = {{{shown}}},\n"
        f"callback = function(KEYS, ARGV)\nbegin(ARGV[1])\n{body}\nend}}\n"
    )


@dataclass(frozen=True, slots=True)
class Library:
    """A library's name, its code for FUNCTION LOAD, and its functions by short name."""

    name: str
    code: str
    functions: dict[str, str]


def internal_library() -> Library:
    """The library of the backend's own functions, named by the hash of its code."""
    parts = [prelude()]
    parts += [
        register(f"taskrunner_{_HASH}_{name}", lua_source(name), FLAGS.get(name, ()))
        for name in FUNCTIONS
    ]
    body = "\n".join(parts)
    digest = hashlib.sha1(body.encode()).hexdigest()[:16]
    name = f"taskrunner_{digest}"
    code = f"#!lua name={name}\n" + body.replace(_HASH, digest)
    return Library(name, code, {short: f"{name}_{short}" for short in FUNCTIONS})
