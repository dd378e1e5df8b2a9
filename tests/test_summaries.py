"""The chat and agent summaries against a plain Python computation: the periods laid out
with `zoneinfo` day by day and hour by hour, each chat or event put in the period its
local time names, the measures added up in Python. The per-chat figures come from the
chat export and the events from test_events' plain computation (each checked against
its own reference elsewhere); what is compared here is the calendar, the grouping, the
attribution to agents and the arithmetic. A few cases also go through real
`export_report` runs to the S3 server, in CSV and Parquet."""

from __future__ import annotations

import bisect
import io
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest

from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.request import parse_request
from tests.conftest import Exported, auth
from tests.test_events import Replica

Row = dict[str, Any]
LABELS = {
    "hour": "%Y-%m-%d %H:00",
    "day": "%Y-%m-%d",
    "day_hours": "%H:00",
    "weekday": "%A",
    "week": "%G-W%V",
    "month": "%Y-%m",
    "year": "%Y",
}
# (organisation, timezone, first day, last day, distribution): DST weeks in New York
# (spring) and Berlin (autumn), a range running past the replica's last chat (empty
# periods), and every distribution.
CASES = [
    ("org_001", "America/New_York", date(2026, 3, 2), date(2026, 3, 15), "day"),
    ("org_001", "America/New_York", date(2026, 3, 7), date(2026, 3, 9), "hour"),
    ("org_002", "Europe/Berlin", date(2025, 10, 20), date(2025, 11, 2), "day"),
    ("org_002", "Europe/Berlin", date(2025, 10, 25), date(2025, 10, 26), "hour"),
    ("org_003", "Asia/Kolkata", date(2026, 8, 10), date(2026, 9, 5), "day"),
    ("org_001", "UTC", date(2025, 11, 1), date(2026, 2, 28), "week"),
    ("org_004", "America/New_York", date(2025, 1, 1), date(2025, 12, 31), "month"),
    ("org_001", "Asia/Kolkata", date(2025, 1, 1), date(2026, 12, 31), "year"),
    ("org_002", "Europe/Berlin", date(2026, 1, 1), date(2026, 3, 31), "weekday"),
    ("org_003", "America/New_York", date(2026, 2, 1), date(2026, 4, 30), "day_hours"),
]


def periods(first: date, last: date, tz: str, distribution: str) -> dict[str, list[tuple]]:
    """Each period's label and its spans of time (UTC), in order: the local days of the
    range, or for hours each local hour the clock shows."""
    zone, fmt = ZoneInfo(tz), LABELS[distribution]
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    day = first
    while day <= last:
        if distribution in ("hour", "day_hours"):
            for hour in range(24):
                local = datetime(day.year, day.month, day.day, hour)
                start = local.replace(tzinfo=zone)
                if start.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
                    continue  # an hour the clock skips
                end = (local + timedelta(hours=1)).replace(tzinfo=zone)
                if hour == 23:
                    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
                spans[local.strftime(fmt)].append((start.astimezone(UTC), end.astimezone(UTC)))
        else:
            start = datetime.combine(day, datetime.min.time(), zone)
            end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
            spans[start.strftime(fmt)].append((start.astimezone(UTC), end.astimezone(UTC)))
        day += timedelta(days=1)
    order = {
        "weekday": _WEEKDAYS.index,
        "day_hours": lambda label: int(label[:2]),
    }.get(distribution, lambda label: spans[label][0][0])
    return {label: spans[label] for label in sorted(spans, key=order)}


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def label_of(at: datetime, tz: str, distribution: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime(LABELS[distribution])


def within(at: datetime, first: date, last: date, tz: str) -> bool:
    zone = ZoneInfo(tz)
    start = datetime.combine(first, datetime.min.time(), zone)
    return start <= at < datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)


def rounded(value: Decimal | float, digits: int = 1) -> float:
    """Half away from zero, as DuckDB rounds (Python's `round` rounds half to even)."""
    exact = Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return float(exact)


def average(values: list[int], digits: int = 1) -> float | None:
    """The exact mean, rounded."""
    return rounded(Decimal(sum(values)) / len(values), digits) if values else None


def built(replica: Any, org: str, document: dict[str, Any]) -> list[Row]:
    request = parse_request(document)
    with ReplicaReader(str(replica), org) as reader:
        export = REPORT_TYPES[request.type].export(reader, request, 300)
        frames = list(export.batches)
    return pl.concat(frames).to_dicts() if frames else []


def same(actual: list[Row], expected: list[Row]) -> None:
    assert [list(r)[:3] for r in actual[:1]] == [list(r)[:3] for r in expected[:1]]
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, abs=1e-9), (want["Period"], key)
            else:
                assert got[key] == value, (want["Period"], key, got, want)


# chat_summary ---------------------------------------------------------------------------

GROUP_COLUMNS = {"agent": "Assignee Name", "team": "Teams", "channel": "Channel", "label": "Labels"}


def chat_summary(
    chats: list[Row], calendar: dict[str, list[tuple]], tz: str, dist: str, group_by: str
) -> list[Row]:
    grouped: dict[tuple[str, Any], list[Row]] = defaultdict(list)
    seen: set[Any] = set()
    for chat in chats:
        value = chat[GROUP_COLUMNS[group_by]] if group_by != "none" else None
        groups = (value or [None]) if isinstance(value, list) else [value]
        for group in groups:
            seen.add(group)
            grouped[label_of(chat["Created At"], tz, dist), group].append(chat)
    names = sorted(seen - {None}) + ([None] if None in seen or not seen else [])
    out = []
    for period in calendar:
        for group in names:
            row: Row = {"Period": period}
            if group_by != "none":
                row["Group"] = group
            out.append(row | chat_measures(grouped[period, group]))
    return out


def chat_measures(chats: list[Row]) -> Row:
    def values(header: str) -> list[Any]:
        return [c[header] for c in chats if c[header] is not None]

    first = values("First Response Time (s)")
    replies = sum(c["Reply Count"] for c in chats)
    scores = values("CSAT Score")
    return {
        "Chats": len(chats),
        "Resolved": len(values("Resolution Time (s)")),
        "Reopened": sum(bool(c["Reopened"]) for c in chats),
        "Unanswered": sum(bool(c["Unanswered"]) for c in chats),
        "Replies": replies,
        "Average Duration (s)": average(values("Duration (s)")),
        "Average First Response (s)": average(first),
        "Median First Response (s)": rounded(Decimal(statistics.median(first))) if first else None,
        "Average Response (s)": (
            rounded(Decimal(sum(values("Total Reply Time (s)"))) / replies) if replies else None
        ),
        "Average Resolution (s)": average(values("Resolution Time (s)")),
        "Average First Response, business hours (s)": average(
            values("First Response Time, business hours (s)")
        ),
        "Average Resolution, business hours (s)": average(
            values("Resolution Time, business hours (s)")
        ),
        "Rated": len(scores),
        "Average CSAT": average(scores, 2),
        "Good Ratings": sum(s >= 4 for s in scores),
        "Bad Ratings": sum(s <= 2 for s in scores),
    }


def checked_chat_summary(
    replica: Any,
    org: str,
    tz: str,
    first: date,
    last: date,
    dist: str,
    group_by: str = "none",
    chosen: dict[str, Any] | None = None,
) -> tuple[list[Row], list[Row]]:
    """The summary of the chats `chosen` selects created in [first, last], compared with
    the plain computation over the chat export's rows: (those chats, the expected rows)."""
    filters = {"created": {"from": first.isoformat(), "to": last.isoformat()}, **(chosen or {})}
    chats = built(replica, org, {"type": "chat", "timezone": tz, "filters": filters})
    document = {"type": "chat_summary", "timezone": tz, "filters": filters, "distribution": dist}
    if group_by != "none":
        document["group_by"] = group_by
    expected = chat_summary(chats, periods(first, last, tz, dist), tz, dist, group_by)
    same(built(replica, org, document), expected)
    return chats, expected


@pytest.mark.parametrize(("org", "tz", "first", "last", "dist"), CASES)
def test_chat_summary_is_the_plain_computation(
    replica: Any, org: str, tz: str, first: date, last: date, dist: str
) -> None:
    chats, expected = checked_chat_summary(replica, org, tz, first, last, dist)
    assert sum(r["Chats"] for r in expected) == len(chats)


@pytest.mark.parametrize("group_by", ["agent", "team", "channel", "label"])
def test_a_grouped_chat_summary_is_the_plain_computation(replica: Any, group_by: str) -> None:
    first, last = date(2025, 10, 20), date(2025, 11, 9)
    _, expected = checked_chat_summary(
        replica, "org_002", "Europe/Berlin", first, last, "week", group_by
    )
    assert len({r["Group"] for r in expected}) > 1


def test_the_chat_filters_choose_the_summarised_chats(replica: Any) -> None:
    chosen = {"high_priority": True, "rated": True}
    _, expected = checked_chat_summary(
        replica, "org_001", "UTC", date(2026, 1, 1), date(2026, 3, 31), "month", chosen=chosen
    )
    assert 0 < sum(r["Chats"] for r in expected) == sum(r["Rated"] for r in expected)


# agent_summary --------------------------------------------------------------------------


def attributed(events: list[Row]) -> Iterator[tuple[str, Row, int]]:
    """(kind, event, agent) for each event that counts for an agent: an assignment for
    the agent assigned, a reply for its sender, a resolution and a rating of it for the
    first-assigned agent still assigned at the resolution."""
    standing: dict[int, dict[int, int]] = defaultdict(dict)  # chat -> agent -> assignment
    resolutions: dict[int, list[tuple[datetime, int, int | None]]] = defaultdict(list)
    chat_kinds = (
        "created",
        "agent_assigned",
        "team_assigned",
        "unassigned",
        "resolved",
        "reopened",
    )
    for event in sorted(
        (e for e in events if e["Event Type"] in chat_kinds), key=lambda e: e["Event ID"]
    ):
        chat, agent, kind = event["Chat ID"], event["Agent ID"], event["Event Type"]
        if kind == "agent_assigned":
            standing[chat].setdefault(agent, event["Event ID"])
            yield "assigned", event, agent
        elif kind == "unassigned":
            standing[chat].pop(agent, None)
        elif kind == "resolved":
            agents = standing[chat]
            holder = min(agents, key=agents.__getitem__) if agents else None
            resolutions[chat].append((event["Occurred At"], event["Event ID"], holder))
            if holder is not None:
                yield "resolved", event, holder
    for event in events:
        kind = event["Event Type"]
        if kind in ("response", "first_response") and event["Agent ID"] is not None:
            yield kind, event, event["Agent ID"]
        elif kind == "csat":
            rated = [r for r in resolutions[event["Chat ID"]] if r[0] <= event["Occurred At"]]
            if rated and (holder := max(rated)[2]) is not None:
                yield "csat", event, holder


def availability(replica: Replica, calendar: dict[str, list[tuple]]) -> dict[tuple, Row]:
    changes: dict[int, list[tuple[datetime, int, str]]] = defaultdict(list)
    for ident, member, at, status in replica.rows(
        "SELECT status_change_id, member_id, changed_at, status FROM member_status WHERE org_id = ?"
    ):
        changes[member].append((at, ident, status))
    now = datetime.now(UTC)
    out: dict[tuple, Row] = defaultdict(lambda: {"online": 0, "away": 0, "online_bh": 0})
    units = sorted((a, b, period) for period, spans in calendar.items() for a, b in spans)
    unit_ends = [b for _, b, _ in units]
    for member, steps in changes.items():
        steps.sort()
        ends = [at for at, _, _ in steps[1:]] + [max(now, steps[-1][0])]
        for (start, _, status), end in zip(steps, ends, strict=True):
            if status == "offline":
                continue
            for a, b, period in units[bisect.bisect_right(unit_ends, start) :]:
                if a >= end:
                    break
                lo, hi = max(start, a), min(end, b)
                totals = out[period, member]
                totals[status] += int((hi - lo).total_seconds())
                if status == "online":
                    totals["online_bh"] += replica.business(lo, hi)
    return out


def agent_summary(
    replica: Replica, calendar: dict[str, list[tuple]], first: date, last: date, tz: str, dist: str
) -> list[Row]:
    facts: dict[tuple, list[tuple[str, Row]]] = defaultdict(list)
    for kind, event, agent in attributed(replica.events()):
        if within(event["Occurred At"], first, last, tz):
            facts[label_of(event["Occurred At"], tz, dist), agent].append((kind, event))
    available = availability(replica, calendar)
    out = []
    for period in calendar:
        for member in sorted(replica.members):
            mine = facts[period, member]

            def of(kind: str, mine: list = mine) -> list[Row]:
                return [e for k, e in mine if k == kind]

            def seconds(kind: str) -> list[int]:
                return [e["Value (s)"] for e in of(kind)]

            scores = [e["CSAT Score"] for e in of("csat")]
            status = available[period, member]
            out.append(
                {
                    "Period": period,
                    "Agent ID": member,
                    "Agent Name": replica.members[member],
                    "Chats Assigned": len({e["Chat ID"] for e in of("assigned")}),
                    "Chats Resolved": len({e["Chat ID"] for e in of("resolved")}),
                    "Replies": len(of("response")),
                    "Average First Response (s)": average(
                        [e["Value (s)"] for e in of("first_response")]
                    ),
                    "Average Response (s)": average([e["Value (s)"] for e in of("response")]),
                    "Average Resolution (s)": average([e["Value (s)"] for e in of("resolved")]),
                    "Rated": len(scores),
                    "Average CSAT": average(scores, 2),
                    "Online (s)": status["online"],
                    "Away (s)": status["away"],
                    "Online, business hours (s)": status["online_bh"],
                }
            )
    return out


@pytest.fixture(scope="module")
def replicas(catalog: duckdb.DuckDBPyConnection) -> Callable[[str], Replica]:
    made: dict[str, Replica] = {}
    return lambda org: made.setdefault(org, Replica(catalog, org))


@pytest.mark.parametrize(("org", "tz", "first", "last", "dist"), CASES)
def test_agent_summary_is_the_plain_computation(
    replica: Any,
    replicas: Callable[[str], Replica],
    org: str,
    tz: str,
    first: date,
    last: date,
    dist: str,
) -> None:
    span = {"from": first.isoformat(), "to": last.isoformat()}
    document = {
        "type": "agent_summary",
        "timezone": tz,
        "filters": {"period": span},
        "distribution": dist,
    }
    calendar = periods(first, last, tz, dist)
    expected = agent_summary(replicas(org), calendar, first, last, tz, dist)
    same(built(replica, org, document), expected)


def test_agents_and_teams_choose_the_rows(replica: Any, replicas: Callable[[str], Replica]) -> None:
    org, tz, first, last, dist = "org_001", "UTC", date(2026, 6, 1), date(2026, 6, 30), "week"
    in_team = next(iter(replicas(org).member_teams.values()))
    span = {"from": first.isoformat(), "to": last.isoformat()}
    for filters, agents in [
        ({"agents": {"values": [1, 2]}}, {1, 2}),
        (
            {"teams": {"values": in_team[:1]}},
            {m for m, t in replicas(org).member_teams.items() if in_team[0] in t},
        ),
    ]:
        rows = built(
            replica,
            org,
            {
                "type": "agent_summary",
                "timezone": tz,
                "filters": {"period": span, **filters},
                "distribution": dist,
            },
        )
        assert {r["Agent ID"] for r in rows} == agents
        assert len(rows) == len(agents) * len(periods(first, last, tz, dist))


def test_a_summary_without_a_range_covers_the_last_seven_days(replica: Any) -> None:
    rows = built(replica, "org_001", {"type": "chat_summary", "timezone": "Asia/Kolkata"})
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    days = [(today - timedelta(days=n)).isoformat() for n in range(7, 0, -1)]
    assert [r["Period"] for r in rows] == days


def test_summaries_run_end_to_end_in_every_shape(export: Callable[..., Exported]) -> None:
    span = {"from": "2026-03-02", "to": "2026-03-15"}
    done = export(
        "chat_summary",
        {"created": span},
        tz="America/New_York",
        options={"distribution": "week", "group_by": "channel"},
    )
    assert done.header[:2] == ["Period", "Group"]
    assert {r["Period"] for r in done.rows} == {"2026-W10", "2026-W11"}
    assert done.report.row_count == len(done.rows) > 0
    parquet = export(
        "agent_summary",
        {"period": span},
        tz="Europe/Berlin",
        file_format="parquet",
        options={"distribution": "weekday"},
    )
    frame = pl.read_parquet(io.BytesIO(parquet.raw))
    assert frame.columns[:4] == ["Period", "Agent ID", "Agent Name", "Chats Assigned"]
    assert frame.columns[-1] == "Online, business hours (s)"
    assert frame["Period"].unique(maintain_order=True).to_list() == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    assert frame["Online (s)"].sum() > 0


def test_the_api_takes_summary_options_only_where_they_belong(api: Any) -> None:
    base = "/api/wp-crm/reports/org_001"
    monday = {
        "name": "Last week by day, per agent",
        "cron": "0 7 * * 1",
        "type": "agent_summary",
        "timezone": "Europe/Berlin",
        "filters": {"period": {"from": "-1 week start", "to": "-1 week end"}},
        "distribution": "day",
    }
    made = api.post(f"{base}/schedules", json=monday, headers=auth())
    assert made.status_code == 201, made.text
    assert made.json()["distribution"] == "day"
    refused = [
        {"type": "chat", "distribution": "day"},
        {"type": "agent_summary", "group_by": "agent"},
        {"type": "chat_summary", "distribution": "minute"},
        {"type": "chat_summary", "filters": {"created": {"from": "2026-01-01"}}},
        {
            "type": "chat_summary",
            "distribution": "hour",
            "filters": {"created": {"from": "2020-01-01", "to": "2026-01-01"}},
        },
    ]
    for body in refused:
        answer = api.post(base, json=body, headers=auth())
        assert answer.status_code == 422, (body, answer.text)
    wrong = api.post(
        f"{base}/schedules", json=monday | {"type": "chat", "filters": {}}, headers=auth()
    )
    assert wrong.status_code == 422, wrong.text
    accepted = api.post(base, json={"type": "chat_summary", "group_by": "label"}, headers=auth())
    assert accepted.status_code == 202, accepted.text


# preview --------------------------------------------------------------------------------

PREVIEW = "/api/wp-crm/reports/org_001/preview"


def previewed(api: Any, document: dict[str, Any], **query: int) -> dict[str, Any]:
    answer = api.post(PREVIEW, json=document, params=query, headers=auth())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.parametrize(
    ("document", "periods", "shown", "ends"),
    [
        # the first ten days of two months, by day, per channel
        (
            {"distribution": "day", "group_by": "channel", "timezone": "America/New_York"},
            10,
            10,
            "2026-03-11T00:00:00-04:00",
        ),
        # a year by month: the months that end within a quarter of its start
        ({"distribution": "month", "timezone": "Asia/Kolkata"}, 31, 3, "2026-04-01T00:00:00+05:30"),
        # the range is shorter than the periods asked for: all of it
        ({"distribution": "week", "timezone": "UTC"}, 100, None, None),
    ],
)
def test_a_preview_is_the_first_periods_of_the_file(
    api: Any, replica: Any, document: dict[str, Any], periods: int, shown: int | None, ends: str
) -> None:
    span = {"from": "2026-01-01", "to": "2026-02-28"} if shown != 3 else {}
    span = span or {"from": "2026-01-01", "to": "2026-12-31"}
    if document["distribution"] == "day":
        span = {"from": "2026-03-01", "to": "2026-04-30"}
    request = {"type": "chat_summary", "filters": {"created": span}, **document}
    whole = built(replica, "org_001", request)
    body = previewed(api, request, periods=periods)
    labels = list(dict.fromkeys(r["Period"] for r in whole))
    kept = labels[:shown] if shown else labels
    assert [r["Period"] for r in body["rows"]] == [
        r["Period"] for r in whole if r["Period"] in kept
    ]
    same(body["rows"], [r for r in whole if r["Period"] in kept])
    assert body["columns"] == list(whole[0])
    assert body["complete"] is (shown is None)
    if ends:
        assert body["to"] == ends
    assert sum(r["Chats"] for r in body["rows"]) > 0


def test_a_recurring_preview_sums_a_quarter_of_the_range(api: Any, replica: Any) -> None:
    request = {
        "type": "agent_summary",
        "timezone": "Europe/Berlin",
        "filters": {"period": {"from": "2025-10-01", "to": "2026-03-31"}},
        "distribution": "weekday",
    }
    body = previewed(api, request)
    assert body["from"] == "2025-10-01T00:00:00+02:00"
    assert body["to"] == "2026-01-01T00:00:00+01:00"  # 92 days on
    quarter = {"from": "2025-10-01", "to": "2025-12-31"}
    same(body["rows"], built(replica, "org_001", request | {"filters": {"period": quarter}}))
    assert body["complete"] is False


def test_a_preview_takes_summaries_of_the_callers_organisation_only(api: Any) -> None:
    week = {
        "type": "chat_summary",
        "filters": {"created": {"from": "2026-01-05", "to": "2026-01-11"}},
    }
    for body, query in [
        ({"type": "chat"}, {}),
        (week | {"distribution": "minute"}, {}),
        (week, {"periods": 0}),
        (week, {"periods": 101}),
        ({"type": "agent_summary", "group_by": "team"}, {}),
    ]:
        answer = api.post(PREVIEW, json=body, params=query, headers=auth())
        assert answer.status_code == 422, (body, query, answer.text)
    stranger = api.post(PREVIEW, json=week, headers=auth(org="org_002"))
    assert stranger.status_code == 404, stranger.text  # as for every other path
    user = api.post(PREVIEW, json=week, headers=auth(role="user"))
    assert user.status_code == 403, user.text
    mine = previewed(api, week)["rows"]
    theirs = api.post(
        "/api/wp-crm/reports/org_002/preview", json=week, headers=auth(org="org_002")
    ).json()["rows"]
    assert [r["Chats"] for r in mine] != [r["Chats"] for r in theirs]


def test_a_preview_says_which_columns_are_measures(api: Any) -> None:
    week = {"from": "2026-01-05", "to": "2026-01-11"}
    agents = previewed(api, {"type": "agent_summary", "filters": {"period": week}})
    assert agents["keys"] == ["Agent ID", "Agent Name"]
    assert agents["columns"] == ["Period", *agents["keys"], *agents["measures"]]
    chats = previewed(api, {"type": "chat_summary", "filters": {"created": week}})
    assert (chats["keys"], chats["measures"][0]) == ([], "Chats")
