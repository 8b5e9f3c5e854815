"""The memory backend's ready entries of one queue (`Ready`): whatever order entries are
pushed in, pops answer them smallest first, as one heap would."""

from __future__ import annotations

import heapq
import random

from taskrunner.memory.ready import Entry, Ready, take_in_order


def _entry(priority: int, run_at: float, seq: int) -> Entry:
    return (priority, run_at, seq, 0, f"j{seq}")


def test_entries_pushed_in_order_pop_first_in_first_out() -> None:
    ready = Ready()
    entries = [_entry(0, 10.0, seq) for seq in range(5)]
    for entry in entries:
        ready.push(entry)
    assert not ready.heap and len(ready) == 5
    assert [ready.pop() for _ in range(5)] == entries
    assert not ready


def test_an_entry_smaller_than_the_last_pops_before_it() -> None:
    ready = Ready()
    ready.push(_entry(0, 10.0, 1))
    ready.push(_entry(0, 10.0, 2))
    ready.push(_entry(-1, 20.0, 3))  # a higher priority
    ready.push(_entry(0, 5.0, 4))  # due earlier (a retry or a delayed job)
    assert ready.head() == _entry(-1, 20.0, 3)
    assert [ready.pop()[2] for _ in range(4)] == [3, 4, 1, 2]


def test_any_order_of_pushes_and_pops_matches_a_heap() -> None:
    rng = random.Random(7)
    for _ in range(200):
        ready, heap = Ready(), list[Entry]()
        seq = 0
        for _ in range(rng.randint(1, 60)):
            if heap and rng.random() < 0.35:
                assert ready.head() == heap[0]
                assert ready.pop() == heapq.heappop(heap)
                continue
            seq += 1
            entry = _entry(rng.choice((0, 0, 0, -1, 1)), rng.choice((1.0, 2.0, 2.0, 3.0)), seq)
            ready.push(entry)
            heapq.heappush(heap, entry)
            assert len(ready) == len(heap)
        while heap:
            assert ready.pop() == heapq.heappop(heap)
        assert not ready


def test_take_answers_what_as_many_pops_would() -> None:
    rng = random.Random(11)
    for _ in range(100):
        taking, popping = Ready(), Ready()
        for seq in range(rng.randint(0, 30)):
            entry = _entry(rng.choice((0, 0, -1)), rng.choice((1.0, 2.0)), seq)
            taking.push(entry)
            popping.push(entry)
        most = rng.randint(1, 40)
        expected = [popping.pop() for _ in range(min(most, len(popping)))]
        assert taking.take(most) == expected
        assert len(taking) == len(popping)


def test_taken_in_order_across_queues_as_one_heap_would_answer() -> None:
    rng = random.Random(5)
    for _ in range(100):
        readies = [Ready() for _ in range(rng.randint(1, 3))]
        heap: list[Entry] = []
        for seq in range(rng.randint(1, 30)):
            entry = _entry(rng.choice((0, 0, -1)), rng.choice((1.0, 2.0)), seq)
            rng.choice(readies).push(entry)
            heapq.heappush(heap, entry)
        readies = [ready for ready in readies if ready]
        most = rng.randint(1, 40)
        expected = [heapq.heappop(heap) for _ in range(min(most, len(heap)))]
        assert take_in_order(readies, most) == expected
        assert all(readies)  # the queues that ran empty are dropped
        assert sum(len(ready) for ready in readies) == len(heap)
