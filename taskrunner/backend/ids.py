"""Job ids: UUIDv7 strings. They sort by creation time, and ids made by one process sort in
the order they were made (a counter fills the sub-millisecond bits), so backends can break
ties between jobs due at the same instant by id and keep a batch in order; and an id's text
bounds its creation time, so listings can narrow a time range to an id range (`id_floor`)."""

from __future__ import annotations

import os
import threading
import time

_COUNTER_BITS = 12
_lock = threading.Lock()
_last = [0, 0]  # the millisecond and counter of the last id
_stamp = [-1, ""]  # a millisecond, and the text of its ids up to their counter
_MILLIS = (1 << 48) - 1
_HEX = "0123456789abcdef"
_VARIANT = {c: _HEX[8 | _HEX.index(c) & 3] for c in _HEX}  # a hex digit as 0b10xx


def new_job_id() -> str:
    """A new UUIDv7 string, after every id this process made before.

    Built as text, not from a 128-bit integer: the millisecond's part is written once per
    millisecond, the 62 random bits are `os.urandom`'s hex with the variant's two bits set
    in their first digit (formatting the integer cost twice as much)."""
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis > _last[0]:
            _last[0], _last[1] = millis, 0
        else:  # same millisecond (or the clock stepped back): count on from the last id
            _last[1] += 1
            if _last[1] >> _COUNTER_BITS:
                _last[0], _last[1] = _last[0] + 1, 0
        millis, counter = _last
        if millis != _stamp[0]:
            m = f"{millis & _MILLIS:012x}"
            _stamp[0], _stamp[1] = millis, f"{m[:8]}-{m[8:]}-7"
        stamp = _stamp[1]
    rand = os.urandom(8).hex()
    return f"{stamp}{hex(counter | 0x1000)[3:]}-{_VARIANT[rand[0]]}{rand[1:4]}-{rand[4:]}"


CLOCK_MARGIN = 300.0
"""Seconds by which a job id's time may differ from its enqueue time: ids are stamped by the
enqueuing client's clock, enqueue times by the store's. Listings widen id bounds by it."""


def id_floor(seconds: float) -> str:
    """The smallest UUIDv7 string made at `seconds`: a lexicographic bound for ids in
    canonical text form (times before the epoch or past 48 bits of milliseconds clamp)."""
    stamp = f"{min(max(int(seconds * 1000), 0), (1 << 48) - 1):012x}"
    return f"{stamp[:8]}-{stamp[8:]}-0000-0000-000000000000"
