"""Testing with taskrunner: helpers for testing an app's tasks, and the backend conformance
suite for backend authors.

For an app's tests (see docs/testing.md):

- `Clock`: time that moves only when told; give it to the memory backend
  (`MemoryBackend(clock=Clock())`) and every time taskrunner judges follows it.
- `drain(runner)`: run every due job to its end, now (`advance_clock=True`: skipping every
  wait); `advance(runner, hours=3)`: let three hours pass with a worker running, tick by
  tick. Both answer a `DrainReport` of the attempts that ran.
- `eager(runner)`: in its block, each enqueue runs its job before it returns.
- `enqueued`, `assert_enqueued`, `assert_not_enqueued`, `assert_no_failures`,
  `assert_nothing_queued`: what the backend holds.
- `memory_harness(runner)`: a runner on a fresh memory backend on a `Clock`, as a
  `Harness` with the helpers bound to it; the pytest plugin (`taskrunner.testing.plugin`)
  hands one out as the `taskrunner_harness` fixture.

For backend authors: a backend passes the suite by subclassing `BackendConformance` in a
pytest module and providing a `backend` fixture that yields a connected, empty backend of
its own::

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        async def backend(self) -> AsyncIterator[Backend]:
            backend = MyBackend("my://localhost/test-" + uuid4().hex)
            await backend.connect()
            yield backend
            await backend.close()
"""

from taskrunner.testing.assertions import (
    assert_enqueued,
    assert_no_failures,
    assert_not_enqueued,
    assert_nothing_queued,
    enqueued,
)
from taskrunner.testing.clock import Clock, ClockedBackend
from taskrunner.testing.conformance import BackendConformance, InspectionConformance
from taskrunner.testing.conformance.helpers import new_job
from taskrunner.testing.drain import advance, drain
from taskrunner.testing.eager import eager
from taskrunner.testing.harness import Harness, memory_harness
from taskrunner.testing.report import Attempt, DrainLimitExceeded, DrainReport

__all__ = [
    "Attempt",
    "BackendConformance",
    "Clock",
    "ClockedBackend",
    "DrainLimitExceeded",
    "DrainReport",
    "Harness",
    "InspectionConformance",
    "advance",
    "assert_enqueued",
    "assert_no_failures",
    "assert_not_enqueued",
    "assert_nothing_queued",
    "drain",
    "eager",
    "enqueued",
    "memory_harness",
    "new_job",
]
