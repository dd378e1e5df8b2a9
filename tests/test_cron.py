"""Schedules' due times come from croniter (a maintained library), no longer from a private
module of Dagster's. This proves the due times unchanged over generated cases: every cron
shape, zones with and without daylight saving, and starts just before each clock change."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from dagster._utils.schedules import cron_string_iterator  # the former implementation

from reports_pipeline.schedules import next_due

pytestmark = pytest.mark.fast  # needs no service: make test-fast

# Zones whose clocks change at 01:00–03:00 local time, or never. Two kinds are left out
# because Dagster's own answer is not a wall-clock time there: zones that change at
# midnight, like Havana and Santiago (Dagster moves a skipped 00:30 to 01:30 and fires a
# repeated one at its first occurrence), and Lord Howe's half-hour change (Dagster fires
# `0 * * * *` at hh:30). There croniter's wall-clock answer is the one kept.
CHANGES = {
    "Europe/Berlin": [datetime(2026, 3, 29, 1), datetime(2026, 10, 25, 1)],
    "Europe/London": [datetime(2026, 3, 29, 1), datetime(2026, 10, 25, 1)],
    "America/New_York": [datetime(2026, 3, 8, 7), datetime(2026, 11, 1, 6)],
    "Australia/Sydney": [datetime(2026, 4, 4, 16), datetime(2026, 10, 3, 16)],
    "Pacific/Auckland": [datetime(2026, 4, 4, 14), datetime(2026, 9, 26, 14)],
    "Asia/Kolkata": [datetime(2026, 1, 1), datetime(2026, 7, 1)],
    "UTC": [datetime(2026, 2, 28), datetime(2026, 12, 31)],
}


def former(cron: str, zone: str, after: datetime) -> datetime:
    return next(cron_string_iterator(after.timestamp() + 1e-6, cron, zone)).astimezone(UTC)


def field(rng: random.Random, low: int, high: int) -> str:
    a = rng.randint(low, high)
    return rng.choice(
        ["*", str(a), f"{a},{rng.randint(low, high)}", f"{a}-{min(high, a + 3)}", "*/3"]
    )


def cases(seed: int, n: int) -> list[tuple[str, str, datetime]]:
    rng = random.Random(seed)
    made = []
    for _ in range(n):
        minute = rng.choice(["0", "30", "*/15", "15,45", field(rng, 0, 59)])
        hour = rng.choice(["1", "2", "3", "1-3", "*/2", "0,2", "*", field(rng, 0, 23)])
        day = rng.choice(["*", "*", field(rng, 1, 28)])
        month = rng.choice(["*", "*", "*", field(rng, 1, 12)])
        weekday = rng.choice(["*", "*", field(rng, 0, 6)])
        zone = rng.choice(list(CHANGES))
        change = rng.choice(CHANGES[zone]).replace(tzinfo=UTC)
        after = change - timedelta(minutes=rng.randint(-600, 2400))
        made.append((f"{minute} {hour} {day} {month} {weekday}", zone, after))
    return made


@pytest.mark.parametrize("seed", range(4))
def test_due_times_are_those_dagster_gave(seed: int) -> None:
    answers = [(c, z, a, former(c, z, a), next_due(c, z, a)) for c, z, a in cases(seed, 1000)]
    assert [case for case in answers if case[3] != case[4]] == []


def test_a_daily_time_the_clocks_repeat_fires_once() -> None:
    # 02:30 happens twice in Berlin on 25 October 2026; the export is due once, at the second.
    after = datetime(2026, 10, 24, 12, tzinfo=UTC)
    first = next_due("30 2 * * *", "Europe/Berlin", after)
    assert first == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert next_due("30 2 * * *", "Europe/Berlin", first) == datetime(
        2026, 10, 26, 1, 30, tzinfo=UTC
    )


def test_an_hourly_cron_fires_in_each_real_hour_of_a_repeated_hour() -> None:
    after = datetime(2026, 10, 25, 0, 10, tzinfo=UTC)  # 02:10 CEST
    due = [after]
    for _ in range(3):
        due.append(next_due("30 * * * *", "Europe/Berlin", due[-1]))
    assert [d.strftime("%H:%M") for d in due[1:]] == ["00:30", "01:30", "02:30"]
