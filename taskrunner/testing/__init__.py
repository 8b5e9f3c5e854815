"""Test helpers: the backend conformance suite.

A backend passes the suite by subclassing `BackendConformance` in a pytest module and
providing a `backend` fixture that yields a connected, empty backend of its own::

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        async def backend(self) -> AsyncIterator[Backend]:
            backend = MyBackend("my://localhost/test-" + uuid4().hex)
            await backend.connect()
            yield backend
            await backend.close()
"""

from taskrunner.testing.conformance import BackendConformance, InspectionConformance
from taskrunner.testing.conformance.helpers import new_job

__all__ = ["BackendConformance", "InspectionConformance", "new_job"]
