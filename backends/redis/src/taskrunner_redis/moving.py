"""Function calls while a Redis Cluster slot moves (resharding), made safe by one key that is
never written.

While a slot moves, its keys are split between two primaries: the source (the slot is
MIGRATING there) holds those not moved yet, the target (IMPORTING) those moved, and MIGRATE
carries a few at a time from one to the other. A function call reaches most of its queue's
keys without declaring them, so a call run on either side would see half the queue: on the
source it is refused halfway, after its first writes, when it touches a key already moved; on
the target it takes the keys not moved yet for missing and writes them anew.

So each call declares, beside its route key, `<prefix>:{<tag>}:absent` (`absent_beside`), a
key of the same slot that nothing ever writes. Redis checks a call's declared keys before it
runs it, and only while the slot moves: on the source a declared key it lacks means
TRYAGAIN (when it holds another) or an ASK redirection to the target (when it holds none),
and on the target, asked there, a multi-key call that lacks one gets TRYAGAIN. The absent
key is always lacking, so a call on a moving slot never runs, on either side: it waits, and
runs whole once the slot has its new owner. On a slot that does not move (and on a single
Redis) the declared keys are not looked up, so the key costs nothing there.

The cluster client tries a refused call again for a moment (about half a second) and then
gives up with "TTL exhausted"; `MoveWait` keeps trying, with pauses, for up to `LONGEST`
seconds, which a slot move by `redis-cli --cluster reshard` takes well under unless its
queue holds millions of keys. A call refused so never ran, so it is safe to send again.
"""

from __future__ import annotations

import asyncio
import time

from redis.exceptions import AskError, ClusterError, TryAgainError

ABSENT = "absent"  # the last part of the never-written key of each slot
LONGEST = 60.0  # seconds a call keeps trying while its slot moves, then fails
FIRST_PAUSE, LONGEST_PAUSE = 0.02, 0.5  # seconds between tries, doubling


def absent_beside(key: str) -> str | None:
    """The never-written key in the slot of `key` (`<before>{<tag>}:absent`), or None for a
    key without a hash tag (no key of ours used as a route key lacks one)."""
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    if end <= start + 1:
        return None
    return f"{key[: end + 1]}:{ABSENT}"


def declared(key: str) -> list[str]:
    """The keys a call routed by `key` declares: FCALL's numkeys and keys."""
    absent = absent_beside(key)
    return ["1", key] if absent is None else ["2", key, absent]


def is_moving(answer: object) -> bool:
    """Whether a call was refused, unrun, because its slot is moving: TRYAGAIN, a redirection
    the client did not follow, or the client giving up after many of them."""
    if isinstance(answer, (TryAgainError, AskError)):  # MovedError is an AskError
        return True
    return isinstance(answer, ClusterError) and "TTL exhausted" in str(answer)


class MoveWait:
    """The pauses of one call (or one batch of calls) refused while its slot moves."""

    __slots__ = ("_pause", "_since")

    def __init__(self) -> None:
        self._since: float | None = None
        self._pause = FIRST_PAUSE

    async def pause(self, refused: BaseException) -> None:
        """Wait before the next try; raise ClusterError (a BackendError to the caller) once
        the calls have been refused for longer than LONGEST seconds."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
        elif now - self._since > LONGEST:
            raise ClusterError(
                f"a Redis Cluster slot has been moving for over {LONGEST:.0f} s, and Redis "
                f"refuses calls on it until it has its new owner: is a reshard stuck halfway? "
                f"(`redis-cli --cluster fix` ends it) ({refused})"
            ) from refused
        await asyncio.sleep(self._pause)
        self._pause = min(2 * self._pause, LONGEST_PAUSE)
