from __future__ import annotations

import uuid

from taskrunner.backend import new_job_id


def test_ids_are_uuid7_and_increase_in_the_order_they_are_made() -> None:
    ids = [new_job_id() for _ in range(20_000)]  # several thousand per millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_ids_are_in_the_canonical_text_form_of_their_uuid() -> None:
    for job_id in (new_job_id() for _ in range(1_000)):
        parsed = uuid.UUID(job_id)
        assert str(parsed) == job_id
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
