"""Filters pushed into the replica query change nothing but the cost: over many generated
filter mixes of every sliced report type, the file is byte-identical with and without
pushdown, and a count given before the export is its row count."""

from __future__ import annotations

import random
import typing
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from reports_pipeline import pushdown
from reports_pipeline.filters import DateRange, MultiSetFilter, NumberRange, SetFilter
from reports_pipeline.formats import FORMATS, FileOptions
from reports_pipeline.options import organisation_options
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES, base, goal
from reports_pipeline.request import parse_request
from tests.conftest import ORG, TEST_SPEC

CASES = 12
BASE_TABLE = {
    "chat": "chats",
    "contact": "contacts",
    "ticket": "tickets",
    "call_log": "call_logs",
    "goal": "bot_sessions",
}
TZS = ["UTC", "Asia/Kolkata", "America/New_York", "Pacific/Kiritimati"]
SEARCHES = ["a", "an", "ex", "+9", "refund", "=", "@", "o'", "ñ"]


def _inner(annotation: Any) -> Any:
    return next(a for a in typing.get_args(annotation) if a is not type(None))


def _date(rng: random.Random) -> str:
    day = TEST_SPEC.end - timedelta(days=rng.randint(0, 500))
    if rng.random() < 0.3:
        return f"{day.isoformat()}T{rng.randint(0, 23):02d}:30:00+05:30"
    return day.isoformat()


def _set_value(rng: random.Random, item: Any, candidates: list[Any], multi: bool) -> dict:
    if typing.get_origin(item) is Literal:
        candidates = list(typing.get_args(item))
    picked = rng.sample(candidates, min(len(candidates), rng.randint(1, 3))) if candidates else [1]
    shape = rng.choice(["values", "values", "exclude_values", "exists"])
    if shape == "exists":
        return {"exists": rng.random() < 0.5}
    value: dict[str, Any] = {shape: picked}
    if multi and shape == "values" and rng.random() < 0.3:
        value["require_every_value"] = True
    return value


# Where each predicate source's values are: (table, name column), the value is `value`.
VALUES = {
    "custom_fields": ("contact_field_values", "field_key"),
    "trackers": ("tracker_values", "tracker_name"),
}
# Where a number filter's values lie (min drawn from the first two, max from the last two).
NUMBER_SPANS = {"csat": (1, 3, 5)}
PREDICATE_OPS = ["eq", "neq", "contains", "in", "not_in", "exists", "gt", "gte", "lt", "lte"]


def random_predicates(rng: random.Random, source: str, reader: ReplicaReader) -> list[dict]:
    """One to three predicates on named values, mostly with values the data holds (so that
    equality hits), sometimes on a name the organisation does not use."""
    table, name_column = VALUES[source]
    frame = reader.query(table, f"SELECT {name_column} AS name, value FROM {table}")
    out = []
    for _ in range(rng.randint(1, 3)):
        row = frame.row(rng.randrange(frame.height), named=True)
        field = row["name"] if rng.random() < 0.9 else "no_such_field"
        op = rng.choice(PREDICATE_OPS)
        seen = row["value"] if row["value"] is not None else "x"
        if op == "exists":
            value: Any = rng.random() < 0.6
        elif op in ("in", "not_in"):
            value = [seen, rng.choice(["a", "1", "true"])]
        elif op in ("gt", "gte", "lt", "lte"):
            value = rng.choice([seen, rng.randint(0, 12000), "M"])
        elif op == "contains":
            value = seen[: rng.randint(1, max(1, len(seen)))].upper() if seen else "a"
        else:
            value = seen
        out.append({"field": field, "op": op, "value": value})
    return out


def random_filters(rng: random.Random, name: str, reader: ReplicaReader) -> dict[str, Any]:
    model, table = REPORT_TYPES[name].filters, BASE_TABLE[name]
    options = organisation_options(reader)
    base_columns = reader.columns(table)
    payload: dict[str, Any] = {}
    # About eight filters a mix whatever the type's number: more would rarely keep a row.
    chance = 0.4 * min(1.0, 20 / len(model.model_fields))
    for field, info in model.model_fields.items():
        if rng.random() > chance:
            continue
        kind = _inner(info.annotation)
        source = (info.json_schema_extra or {}).get("x-options")  # type: ignore[union-attr]
        if source in VALUES:  # a list of predicates on named values
            payload[field] = random_predicates(rng, str(source), reader)
        elif kind is bool:
            payload[field] = rng.random() < 0.5
        elif kind is str:
            payload[field] = rng.choice(SEARCHES)
        elif isinstance(kind, type) and issubclass(kind, DateRange):
            low, high = sorted([_date(rng), _date(rng)], key=lambda b: b[:10])
            payload[field] = rng.choice([{"from": low, "to": high}, {"from": low}, {"to": high}])
        elif isinstance(kind, type) and issubclass(kind, NumberRange):
            low, middle, high = NUMBER_SPANS.get(field, (0, 200, 2000))
            payload[field] = {"min": rng.randint(low, middle)} | (
                {"max": rng.randint(middle, high)} if rng.random() < 0.5 else {}
            )
        elif isinstance(kind, type) and issubclass(kind, SetFilter):
            item = _inner(kind.model_fields["values"].annotation).__args__[0]
            column = next((m.columns[0] for m in info.metadata if hasattr(m, "columns")), None)
            if source:
                candidates = [o["id"] for o in options.get(str(source), [])]
            elif column in base_columns:
                frame = reader.query(table, f"SELECT DISTINCT {column} AS v FROM {table}")
                candidates = [v for v in frame["v"].to_list() if v is not None]
            else:
                candidates = []
            multi = issubclass(kind, MultiSetFilter)
            payload[field] = _set_value(rng, item, candidates, multi)
    return payload


def random_bodies(
    rng: random.Random, name: str, reader: ReplicaReader, cases: int
) -> Iterator[dict[str, Any]]:
    """Up to `cases` requests of type `name` with random filters (a message export's choose
    chats), less the mixes the API refuses (bounds out of order in the request's zone)."""
    chooser = "chat" if name == "message" else name
    for _ in range(cases):
        filters = random_filters(rng, chooser, reader)
        body = {"type": name, "filters": filters, "timezone": rng.choice(TZS)}
        try:
            parse_request(body)
        except ValueError:
            continue
        yield body


def exported(
    reader: ReplicaReader, name: str, body: dict[str, Any], slice_rows: int = 300
) -> tuple[bytes, int, Any]:
    """The file, its row count, and the count the replica gave up front (None: not exact)."""
    request = parse_request(body)
    export = REPORT_TYPES[name].build(reader, request.filters, request.timezone, slice_rows)
    rows = 0

    def counted() -> Any:
        nonlocal rows
        for batch in export.batches:
            rows += batch.height
            yield batch

    options = FileOptions(timezone=request.timezone)
    data = b"".join(FORMATS["csv"].encode(export.columns, counted(), options))
    return data, rows, export.matching.expected() if export.matching else None


def matching(reader: ReplicaReader, body: dict[str, Any]) -> base.Matching | None:
    """What the count endpoint answers for this request, read without building the file."""
    request = parse_request(body)
    return REPORT_TYPES[request.type].matching(reader, request.filters, request.timezone)


@pytest.mark.parametrize("name", [*BASE_TABLE, "message"])
def test_pushdown_changes_no_file_and_counts_exactly(
    replica: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(f"pushdown-{name}")
    counted = selective = 0
    with ReplicaReader(replica, ORG) as reader:
        full = exported(reader, name, {"type": name})[1]
        for body in random_bodies(rng, name, reader, CASES):
            monkeypatch.setattr(base, "PUSHDOWN", True)
            pushed, rows, expected = exported(reader, name, body)
            monkeypatch.setattr(base, "PUSHDOWN", False)
            plain, plain_rows, _ = exported(reader, name, body)
            assert pushed == plain, body
            if expected is not None:
                assert expected == rows, body
                counted += 1
            selective += 0 < rows < full
            monkeypatch.setattr(base, "PUSHDOWN", True)
            ahead = matching(reader, body)
            if name == "message":
                assert ahead is None  # messages are not counted up front
                continue
            assert ahead is not None and ahead.exact == (expected is not None), body
            assert ahead.count() >= rows, body  # never fewer than the file holds
            assert ahead.exact <= (ahead.count() == rows), body
    assert selective >= 3  # the mixes did select, not just everything or nothing
    if name in ("ticket", "call_log", "goal"):
        assert counted >= 3  # mostly the table's own filters: often counted up front


def test_an_unfiltered_export_is_counted_before_it_is_read(replica: Path) -> None:
    with ReplicaReader(replica, ORG) as reader:
        data, rows, expected = exported(reader, "ticket", {"type": "ticket"})
        assert expected == rows > 0
        # Related-row filters (labels) are decided after enrichment: no count up front.
        _, _, unknown = exported(
            reader, "chat", {"type": "chat", "filters": {"labels": {"exists": True}}}
        )
        assert unknown is None


@pytest.mark.parametrize(
    ("body", "reads"),
    [
        ({"type": "ticket", "filters": {"priorities": {"values": ["high"]}}}, {"tickets"}),
        ({"type": "call_log"}, {"call_logs"}),
        ({"type": "chat", "filters": {"labels": {"values": [0]}}}, {"chats", "chat_labels"}),
        (
            {
                "type": "contact",
                "filters": {"custom_fields": [{"field": "plan", "op": "exists", "value": True}]},
            },
            {"contacts", "contact_field_values"},
        ),
    ],
)
def test_a_count_reads_only_the_base_table_and_its_narrowings(
    replica: Path, body: dict[str, Any], reads: set[str]
) -> None:
    """Counting ahead builds no export: none of the type's lookups (names of statuses,
    members, custom fields) is read."""
    with ReplicaReader(replica, ORG) as reader:
        ahead = matching(reader, body)
        assert ahead is not None and ahead.count() > 0
        assert reader.tables_read == reads


def test_a_pushed_filter_narrows_what_the_replica_query_reads(replica: Path) -> None:
    filters = parse_request(
        {"type": "ticket", "filters": {"priorities": {"values": ["high"]}}}
    ).filters
    with ReplicaReader(replica, ORG) as reader:
        push = pushdown.pushed(filters, "UTC", ("tickets", "ticket_id"), reader.columns("tickets"))
        assert push.exact and "list_contains" in push.keep.sql
        assert "high" not in push.keep.sql  # values are bound, never written into SQL
        assert 0 < reader.count("tickets", push.keep) < reader.count("tickets")


@pytest.mark.parametrize("needle", ["i", "ix", "k", "ss", "ANA", "+9", "=", "@", "example"])
def test_a_pushed_chat_search_keeps_every_chat_polars_keeps(
    replica: Path, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts where DuckDB's and Polars' lower-casing could part (the generator writes names
    in several scripts): the pushed search may keep more, so the file must not change."""
    body = {"type": "chat", "filters": {"search": needle}}
    with ReplicaReader(replica, ORG) as reader:
        monkeypatch.setattr(base, "PUSHDOWN", True)
        pushed, rows, expected = exported(reader, "chat", body)
        monkeypatch.setattr(base, "PUSHDOWN", False)
        assert pushed == exported(reader, "chat", body)[0]
    assert expected is None  # a search is decided on the enriched frame: counted at the end


def test_every_value_narrows_to_the_chats_with_each_of_them(
    replica: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ReplicaReader(replica, ORG) as reader:
        frame = reader.query(
            "chat_labels",
            "SELECT label_id, count(*) AS n FROM chat_labels GROUP BY 1 ORDER BY 2 DESC LIMIT 2",
        )
        wanted = frame["label_id"].to_list()
        some = {"type": "chat", "filters": {"labels": {"values": wanted}}}
        each = {
            "type": "chat",
            "filters": {"labels": {"values": wanted, "require_every_value": True}},
        }
        data, rows, _ = exported(reader, "chat", each)
        monkeypatch.setattr(base, "PUSHDOWN", False)
        assert exported(reader, "chat", each)[0] == data
        monkeypatch.setattr(base, "PUSHDOWN", True)
        at_most = matching(reader, each)
        assert at_most is not None and not at_most.exact
        assert 0 < rows == at_most.count() < matching(reader, some).count()  # type: ignore[union-attr]


PREDICATE_FIELD = {"chat": "contact_custom_fields", "contact": "custom_fields", "goal": "trackers"}


@pytest.mark.parametrize("name", list(PREDICATE_FIELD))
def test_predicates_on_named_values_narrow_and_change_no_file(
    replica: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every operator, on values the data holds: the same file with and without the
    semi-joins, never fewer rows counted than written, and equality narrows the count."""
    source = "trackers" if name == "goal" else "custom_fields"
    table, name_column = VALUES[source]
    with ReplicaReader(replica, ORG) as reader:
        field, seen = reader.query(
            table,
            f"SELECT {name_column}, mode(value) FROM {table} GROUP BY 1 ORDER BY count(*) DESC",
        ).row(0)
        values = {
            "eq": seen,
            "neq": seen,
            "in": [seen, "x"],
            "not_in": [seen],
            "exists": True,
            "contains": seen[:2].upper(),
            "gt": "M",
            "gte": seen,
            "lt": "M",
            "lte": "5",
        }
        full = matching(reader, {"type": name})
        assert full is not None
        for op, value in values.items():
            predicate = {"field": field, "op": op, "value": value}
            body = {"type": name, "filters": {PREDICATE_FIELD[name]: [predicate]}}
            monkeypatch.setattr(base, "PUSHDOWN", True)
            data, rows, _ = exported(reader, name, body)
            ahead = matching(reader, body)
            monkeypatch.setattr(base, "PUSHDOWN", False)
            assert exported(reader, name, body)[0] == data, predicate
            assert ahead is not None and ahead.count() >= rows, predicate
            if op == "eq":
                assert 0 < rows <= ahead.count() < full.count(), predicate


def shape_from_described_sessions(matcher: Any, slice_rows: int) -> goal.Shape:
    """The header's shape as it was found before the shape pass stopped describing the
    sessions: the most events of any described session (its `total_events`)."""
    shape = goal.Shape()
    for part in matcher.slices(slice_rows):
        matched = matcher.match(part)
        sessions = matcher.described(matched)
        if sessions.height:
            most = sessions["total_events"].max()
            shape.events = max(shape.events, most if isinstance(most, int) else 0)
        for position, name in matched.trackers.select("position", "tracker_name").unique().rows():
            shape.trackers.setdefault(int(position), set()).add(name)
    return shape


def test_the_goal_header_is_found_without_describing_the_sessions(replica: Path) -> None:
    rng = random.Random("goal-shape")
    shapes = set()
    with ReplicaReader(replica, ORG) as reader:
        for body in [{"type": "goal"}, *random_bodies(rng, "goal", reader, 16)]:
            request = parse_request(body)
            matcher = goal._Matcher(reader, request.filters, request.timezone)
            found = goal.discover_shape(matcher, 97)  # several slices, each with its most
            assert found == shape_from_described_sessions(matcher, 97), body
            shapes.add((found.events, len(found.columns())))
    assert len(shapes) >= 3  # the mixes found different headers, not one every time
