"""Waiting, in the end-to-end tests, for a condition another process makes true.

The stack's processes (API, Dagster daemon, run workers, S3 server) change state on their
own clocks, so a test never reads right after asking and never sleeps for a guess: it names
the condition it needs and waits for it with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# How long a run may take to be launched and to finish a small export: the daemon's queue,
# the code server's start and the run's imports, on two cores shared with the whole stack.
TIMEOUT_S = 180


def eventually(
    check: Callable[[], T | None], what: str, *, timeout_s: float = TIMEOUT_S, every_s: float = 0.5
) -> T:
    """`check()`'s first answer other than None or False, asked every `every_s` seconds;
    an AssertionError naming `what` once `timeout_s` have passed without one."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = check()
        if answer is not None and answer is not False:
            return answer
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout_s:.0f}s: {what}")
        time.sleep(every_s)
