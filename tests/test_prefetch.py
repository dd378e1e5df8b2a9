"""The one-step-ahead iterator the export uses to overlap query and upload."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from reports_pipeline.prefetch import prefetched


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "export-prefetch"]


def test_items_arrive_in_order() -> None:
    with prefetched(iter(range(100)), depth=2) as items:
        assert list(items) == list(range(100))


def test_a_failure_in_the_source_is_raised_to_the_consumer() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("replica unreadable")

    with prefetched(source()) as stream:
        assert next(stream) == 1
        with pytest.raises(ValueError, match="replica unreadable"):
            next(stream)
    assert prefetch_threads() == []


def test_stopping_early_stops_the_producer() -> None:
    produced = []

    def source() -> Iterator[int]:
        for i in range(1_000):
            produced.append(i)
            yield i

    with prefetched(source()) as stream:
        assert next(stream) == 0
    assert len(produced) < 10
    assert prefetch_threads() == []


def test_an_error_in_the_consumer_waits_for_the_query_in_flight_before_leaving() -> None:
    """The export closes the replica right after this block: the producer must be done
    with it by then, even while it is in the middle of computing the next item."""
    computing, may_finish = threading.Event(), threading.Event()
    finished_computing = []

    def source() -> Iterator[int]:
        yield 1
        computing.set()
        may_finish.wait(timeout=10)  # a slow query, still running when the consumer fails
        finished_computing.append(True)
        yield 2

    def release_later() -> None:
        computing.wait(timeout=10)
        may_finish.set()

    releaser = threading.Thread(target=release_later)
    with pytest.raises(RuntimeError, match="upload refused"), prefetched(source()) as stream:
        next(stream)
        assert computing.wait(timeout=10)
        releaser.start()
        raise RuntimeError("upload refused")
    # Leaving the block waited for the item in flight and ended the thread.
    assert finished_computing == [True]
    assert prefetch_threads() == []
    releaser.join()


def test_a_producer_with_a_full_queue_ends_when_the_consumer_leaves() -> None:
    """It used to block forever on `put` once nobody read the queue any more."""

    def endless() -> Iterator[int]:
        i = 0
        while True:
            i += 1
            yield i

    with prefetched(endless(), depth=1) as stream:
        next(stream)
    assert prefetch_threads() == []
