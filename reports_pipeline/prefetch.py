"""Run an iterator one step ahead in a background thread.

The export builds the next slice (DuckDB and Polars, which release the GIL) while the
current one is encoded and uploaded, so the query and the store work at the same time.
The thread is the context's: leaving the `with` block, on success or error, stops it and
waits for it, so whatever the source reads (the replica's connection) can be closed next.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_OFFER_EVERY_S = 0.1


@contextmanager
def prefetched(source: Iterator[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """`source`'s items, computed up to `depth` ahead; its errors re-raise in the consumer."""
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Queue `item` unless the consumer has left (then a full queue never drains)."""
        while not stop.is_set():
            try:
                items.put(item, timeout=_OFFER_EVERY_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            offer(error)
        finally:
            if isinstance(source, Generator):
                source.close()  # in the thread that ran it

    def consume() -> Iterator[T]:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    worker = threading.Thread(target=produce, name="export-prefetch", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join()  # it ends after the item it is computing, if any
