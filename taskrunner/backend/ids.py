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


def new_job_id() -> str:
    """A new UUIDv7 string, after every id this process made before."""
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis > _last[0]:
            _last[0], _last[1] = millis, 0
        else:  # same millisecond (or the clock stepped back): count on from the last id
            _last[1] += 1
            if _last[1] >> _COUNTER_BITS:
                _last[0], _last[1] = _last[0] + 1, 0
        millis, counter = _last
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0x2 << 62 | rand
    h = f"{value:032x}"  # str(uuid.UUID(int=value)), without building the UUID (a third of it)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


CLOCK_MARGIN = 300.0
"""Seconds by which a job id's time may differ from its enqueue time: ids are stamped by the
enqueuing client's clock, enqueue times by the store's. Listings widen id bounds by it."""


def id_floor(seconds: float) -> str:
    """The smallest UUIDv7 string made at `seconds`: a lexicographic bound for ids in
    canonical text form (times before the epoch or past 48 bits of milliseconds clamp)."""
    stamp = f"{min(max(int(seconds * 1000), 0), (1 << 48) - 1):012x}"
    return f"{stamp[:8]}-{stamp[8:]}-0000-0000-000000000000"
