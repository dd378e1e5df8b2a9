"""The one-step-ahead iterator the export uses to overlap query and upload."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from reports_pipeline.prefetch import prefetch


def test_items_arrive_in_order() -> None:
    assert list(prefetch(iter(range(100)), depth=2)) == list(range(100))


def test_a_failure_in_the_source_is_raised_to_the_consumer() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("replica unreadable")

    stream = prefetch(source())
    assert next(stream) == 1
    with pytest.raises(ValueError, match="replica unreadable"):
        next(stream)


def test_stopping_early_stops_the_producer() -> None:
    produced = []

    def source() -> Iterator[int]:
        for i in range(1_000):
            produced.append(i)
            yield i

    stream = prefetch(source())
    assert next(stream) == 0
    stream.close()
    assert len(produced) < 10
    assert not any(t.name == "export-prefetch" for t in threading.enumerate())
