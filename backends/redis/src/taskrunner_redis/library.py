"""The Redis 7 function libraries, built from the package's Lua files.

The backend's own functions make one library (`internal_library`), loaded with FUNCTION LOAD
by the first call that finds it missing (scripts.py). Its name and the names of its
functions carry a hash of its code (`taskrunner_<hash>`, `taskrunner_<hash>_claim`), so
two versions of taskrunner sharing a server during a rolling deploy each call their own
functions, and a load replaces only a library of the same code.

The prelude (common.lua, then flow.lua, batch.lua, deps.lua and store.lua) is written once
at the library's top level; each function is the body of one Lua file, run after
`begin(prefix)`, which empties the per-call state the prelude keeps (see common.lua).

The public library (`public_library`), named `taskrunner`, holds the stable entry point
for other languages, `taskrunner_enqueue` (door.lua), under a fixed name: the workers load
it, replacing the one there, when they publish their tasks (registry.py), so the last one
to start serves it, as its specs are the registry's.

Functions that only read are flagged `no-writes` (they run on a full Redis and on replicas);
those that free memory or only rewrite what is there, `allow-oom` (purging, reclaiming, a
running job's heartbeat and a worker's own record run on a full Redis: refused, a lease
would run out and its job run twice); the others are refused by a full Redis before they
write anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files

PRELUDE = ("common", "flow", "batch", "deps", "store")
PUBLIC = ("json", "door_args", "door")  # after the prelude, in the public library
PUBLIC_NAME = "taskrunner"
ENTRY_POINT = "taskrunner_enqueue"
FUNCTIONS = (
    "enqueue", "enqueue_plain", "claim", "peek", "heartbeat", "finish", "cancel", "retry",
    "reclaim", "purge", "delete",
    "stats", "next_due", "activity", "watch", "register_worker", "workers", "resume",
    "batch_open", "batch_join", "batch_close", "batch_part", "batch_clean", "batch_index",
    "dep_register", "dep_read", "dep_judge", "dep_done", "flow_counts",
)  # fmt: skip
FLAGS = {
    "stats": ("no-writes",),
    "activity": ("no-writes",),
    "flow_counts": ("no-writes",),
    "dep_read": ("no-writes",),
    "purge": ("allow-oom",),
    "delete": ("allow-oom",),
    "reclaim": ("allow-oom",),
    "heartbeat": ("allow-oom",),
    "register_worker": ("allow-oom",),
}
_HASH = "@HASH@"  # where the library's hash goes in its code


def lua_source(name: str) -> str:
    """The text of `lua/<name>.lua`."""
    return (files("taskrunner_redis") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def prelude() -> str:
    """The code every function of a library shares."""
    return "\n".join(lua_source(name) for name in PRELUDE)


def register(function: str, body: str, flags: tuple[str, ...] = (), begins: bool = True) -> str:
    """The Lua that registers `body` (Lua that reads KEYS and ARGV) as the function named
    `function`; `begins`: first call begin(ARGV[1]), ARGV[1] being the key prefix."""
    shown = ", ".join(f"'{flag}'" for flag in flags)
    start = "begin(ARGV[1])\n" if begins else ""
    return (
        f"redis.register_function{{function_name = '{function}', flags = {{{shown}}},\n"
        f"callback = function(KEYS, ARGV)\n{start}{body}\nend}}\n"
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


def public_library() -> Library:
    """The library of the entry points for other languages (see the module's doc)."""
    parts = [prelude(), *(lua_source(name) for name in PUBLIC)]
    parts.append(register(ENTRY_POINT, "return door(KEYS, ARGV)", begins=False))
    code = f"#!lua name={PUBLIC_NAME}\n" + "\n".join(parts)
    return Library(PUBLIC_NAME, code, {"enqueue": ENTRY_POINT})
