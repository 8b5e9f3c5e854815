"""The core's backend and inspection conformance suites, on the memory backend."""

from __future__ import annotations

import pytest

from taskrunner.memory import MemoryBackend
from taskrunner.testing import BackendConformance, InspectionConformance


class TestMemoryBackend(BackendConformance, InspectionConformance):
    @pytest.fixture
    def backend(self) -> MemoryBackend:
        return MemoryBackend()
