"""Conformance tests of the task registry (`TaskRegistry`, where a backend has it): specs
stored by name, the last published winning, read all at once or by name."""

from __future__ import annotations

import pytest

from taskrunner.backend import Backend, TaskRegistry
from taskrunner.testing.conformance.helpers import Suite


def registry(backend: Backend) -> TaskRegistry:
    if not isinstance(backend, TaskRegistry):
        pytest.skip("the backend keeps no task registry (no TaskRegistry)")
    return backend


class RegistryTests(Suite):
    """The task registry: publish, replace, read."""

    async def test_specs_are_stored_by_name_and_replaced(self, backend: Backend) -> None:
        store = registry(backend)
        assert await store.task_specs() == {}
        await store.publish_tasks({"feeds.fetch": b'{"v":1}', "mail.send": b'{"v":1}'})
        await store.publish_tasks({"feeds.fetch": b'{"v":2}'})
        assert await store.task_specs() == {"feeds.fetch": b'{"v":2}', "mail.send": b'{"v":1}'}
        assert await store.task_specs(["mail.send", "nope"]) == {"mail.send": b'{"v":1}'}
        assert await store.task_specs([]) == {}

    async def test_a_peer_reads_what_another_client_published(
        self, backend: Backend, peer: Backend
    ) -> None:
        await registry(backend).publish_tasks({"a.b": "é".encode() + b"\x00\xff"})
        assert await registry(peer).task_specs(["a.b"]) == {"a.b": "é".encode() + b"\x00\xff"}
