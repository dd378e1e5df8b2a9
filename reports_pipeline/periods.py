"""The periods of a summary (docs/report-types.md, "chat_summary and agent_summary").

A summary's range is cut into the request zone's wall-clock units — hours, days, weeks,
months or years — laid out as UTC instants, so a 23- or 25-hour day is one day and an
hour that the clock skips at a DST change is no period at all. Each unit carries the
label of its period: for `day_hours` and `weekday` many units share one (every 14:00,
every Monday). Whatever a summary counts is put in the unit that holds its instant, so
the calendar and the counting cannot disagree.
"""

# The queries are composed of this module's own text; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from reports_pipeline.filters import DateRange, RequestOptions

Distribution = Literal["hour", "day", "day_hours", "weekday", "week", "month", "year"]

# How each distribution writes its period (strftime of the wall-clock time).
LABELS: dict[Distribution, str] = {
    "hour": "%Y-%m-%d %H:00",
    "day": "%Y-%m-%d",
    "day_hours": "%H:00",
    "weekday": "%A",
    "week": "%G-W%V",
    "month": "%Y-%m",
    "year": "%Y",
}
# How periods are ordered: by their first unit, or (those that recur) by the hour of the
# day or the ISO weekday.
ORDERS: dict[Distribution, str] = {
    "day_hours": "min(hour(local_start))",
    "weekday": "min(isodow(local_start))",
}
DEFAULT_DAYS = 7
MAX_DAYS = 3660  # ten years
MAX_HOUR_DAYS = 400  # hour by hour: about 9,600 periods


class PeriodOptions(RequestOptions):
    distribution: Distribution = Field(
        "day",
        description="The periods, in the request's timezone: `hour`, `day`, `day_hours` "
        "(the 24 hours of the day, summed over the range), `weekday`, `week` (ISO), "
        "`month` or `year`.",
    )

    def check(self, chosen: DateRange | None, tz: str) -> None:
        """Raises unless `chosen` is a range these periods can cut: none (the default
        week), or both bounds within the distribution's limit."""
        if chosen is None:
            return
        if chosen.from_ is None or chosen.to is None:
            raise ValueError("a summary's range needs both 'from' and 'to'")
        end = chosen.end(tz)
        if end is None:
            raise ValueError("a summary's range needs an end")
        days = (end - chosen.start(tz)).days
        limit = MAX_HOUR_DAYS if self.distribution == "hour" else MAX_DAYS
        if days >= limit:
            raise ValueError(f"a summary by {self.distribution} covers at most {limit} days")


def summary_range(chosen: DateRange | None, tz: str) -> DateRange:
    """The range a summary covers: the date filter, or the last 7 whole days in `tz`."""
    if chosen is not None:
        return chosen
    today = datetime.now(ZoneInfo(tz)).date()
    week = {"from": today - timedelta(days=DEFAULT_DAYS), "to": today - timedelta(days=1)}
    return DateRange.model_validate(week)


def bounds(chosen: DateRange, tz: str) -> dict[str, datetime]:
    """The range as UTC instants, its end exclusive."""
    upper = chosen.upper(tz)
    assert upper is not None
    end, inclusive = upper
    return {"range_start": chosen.start(tz), "range_end": end + timedelta(microseconds=inclusive)}


def units_sql(distribution: Distribution) -> str:
    """The units of the range (`$range_start`, `$range_end`, in `$tz`): `label`, `ord`,
    `unit_start`, `unit_end` (UTC instants, cut to the range). Built from quarter hours
    (every zone's offset is a multiple of one), each named by its wall-clock time, so an
    hour the clock repeats is one period and one it skips is none."""
    label = LABELS[distribution]
    order = ORDERS.get(distribution, "min(local_start)")
    return f"""
    WITH slots AS (
        SELECT timezone('UTC', s) AS slot, timezone($tz, timezone('UTC', s)) AS local_start
        FROM range(date_trunc('hour', timezone('UTC', $range_start::TIMESTAMPTZ)),
                   timezone('UTC', $range_end::TIMESTAMPTZ), INTERVAL 15 MINUTE) t(s)),
    named AS (
        SELECT *, strftime(local_start, '{label}') AS label FROM slots),
    runs AS (
        SELECT *, sum(CASE WHEN label = previous THEN 0 ELSE 1 END) OVER (ORDER BY slot) AS run
        FROM (SELECT *, lag(label) OVER (ORDER BY slot) AS previous FROM named))
    SELECT label, {order} AS ord,
           greatest(min(slot), $range_start::TIMESTAMPTZ) AS unit_start,
           least(max(slot) + INTERVAL 15 MINUTE, $range_end::TIMESTAMPTZ) AS unit_end
    FROM runs GROUP BY run, label
    HAVING unit_start < unit_end"""


def periods_cte(distribution: Distribution) -> str:
    """`units` and `periods` (`label`, `ord`), one row per period, as CTEs."""
    return f"""units AS ({units_sql(distribution)}),
periods AS (SELECT label, min(ord) AS ord FROM units GROUP BY label)"""
