"""`columns`: the file holds exactly the chosen columns, in the chosen order, for every
type; names are checked against the organisation's real header (custom fields and
trackers included) when the request or schedule is made, and again by the run."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.request import parse_request
from tests.conftest import Exported, auth

BASE = "/api/wp-crm/reports/org_001"
# Ranges small enough to build quickly, with rows in them.
FILTERS = {
    "chat": {"created": {"from": "2025-06-01", "to": "2025-06-30"}},
    "message": {"sent": {"from": "2025-06-01", "to": "2025-06-07"}},
    "event": {"occurred": {"from": "2025-06-01", "to": "2025-06-07"}},
    "chat_summary": {"created": {"from": "2025-06-01", "to": "2025-06-07"}},
    "agent_summary": {"period": {"from": "2025-06-01", "to": "2025-06-07"}},
}


def frame_of(replica: Path, document: dict[str, Any]) -> tuple[list[str], pl.DataFrame]:
    request = parse_request(document)
    with ReplicaReader(str(replica), "org_001") as reader:
        export = REPORT_TYPES[request.type].export(reader, request, 200)
        return export.columns, pl.concat(list(export.batches), how="vertical_relaxed")


@pytest.mark.parametrize("report_type", list(REPORT_TYPES))
def test_every_type_writes_exactly_the_chosen_columns_in_order(
    replica: Path, report_type: str
) -> None:
    document = {"type": report_type, "filters": FILTERS.get(report_type, {})}
    header, whole = frame_of(replica, document)
    # The last column first (dynamic ones come last), then one from the middle, the first.
    chosen = [header[-1], header[len(header) // 2], header[0]]
    columns, cut = frame_of(replica, document | {"columns": chosen})
    assert columns == cut.columns == chosen
    assert cut.height == whole.height > 0
    assert cut.equals(whole.select(chosen))


# Chat filters of every kind: on the table, on related rows (decided after enrichment),
# on metrics and on the primary contact's custom fields.
CHAT_FILTER_MIXES: list[dict[str, Any]] = [
    {},
    {"has_notes": True},
    {"unanswered": False, "labels": {"exists": True}},
    {"assignees": {"exists": False}, "high_priority": True},
    {"csat": {"min": 3}},
    {"has_open_tickets": False, "goals": {"exists": True}},
    {"search": "a", "rated": True},
    {"contact_custom_fields": [{"field": "plan", "op": "exists", "value": True}]},
    {"reopened": True, "bot_handled": True},
]


@pytest.mark.parametrize("seed", range(6))
def test_a_chat_export_of_chosen_columns_builds_only_those_and_gives_the_same_cells(
    replica: Path, seed: int
) -> None:
    """Differential: the chat export built for its chosen columns (reading only the related
    rows they need) equals the whole export cut to them, for random choices and filters."""
    rng = random.Random(seed)
    for filters in rng.sample(CHAT_FILTER_MIXES, 3):
        document = {"type": "chat", "filters": {**FILTERS["chat"], **filters}}
        header, whole = frame_of(replica, document)
        chosen = rng.sample(header, rng.randint(1, 8))
        columns, cut = frame_of(replica, document | {"columns": chosen})
        assert columns == chosen
        assert cut.equals(whole.select(chosen)), (filters, chosen)


def test_the_columns_endpoint_names_the_dynamic_columns(api: TestClient) -> None:
    answer = api.post(f"{BASE}/columns", json={"type": "contact"}, headers=auth())
    assert answer.status_code == 200, answer.text
    header = answer.json()["columns"]
    assert header[0] == "Contact ID" and any("(custom field" in c for c in header)
    summary = api.post(
        f"{BASE}/columns", json={"type": "chat_summary", "group_by": "team"}, headers=auth()
    ).json()["columns"]
    assert summary[:3] == ["Period", "Group", "Chats"]
    stranger = api.post(f"{BASE}/columns", json={"type": "chat"}, headers=auth(org="org_002"))
    assert stranger.status_code == 404


def test_chosen_columns_are_checked_when_asked_for(api: TestClient) -> None:
    header = api.post(f"{BASE}/columns", json={"type": "contact"}, headers=auth()).json()
    dynamic = next(c for c in header["columns"] if "(custom field" in c)
    refused = {
        "unknown": (["Contact ID", "Shoe Size"], ["body", "contact", "columns", 1]),
        "twice": (["Contact ID", "Contact ID"], ["body", "contact", "columns"]),
        "none": ([], ["body", "contact", "columns"]),
    }
    for why, (columns, loc) in refused.items():
        answer = api.post(BASE, json={"type": "contact", "columns": columns}, headers=auth())
        assert answer.status_code == 422, (why, answer.text)
        assert any(e["loc"][: len(loc)] == loc for e in answer.json()["detail"]), answer.text
    shoe = api.post(BASE, json={"type": "contact", "columns": ["Shoe Size"]}, headers=auth())
    assert "not a column of the Contact export: 'Shoe Size'" in shoe.text
    schedule = {"name": "Contacts", "cron": "0 6 * * *", "type": "contact"}
    wrong = api.post(
        f"{BASE}/schedules", json=schedule | {"columns": ["Shoe Size"]}, headers=auth()
    )
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["detail"][0]["loc"] == ["body", "columns", 0]
    kept = api.post(
        f"{BASE}/schedules", json=schedule | {"columns": [dynamic, "Contact ID"]}, headers=auth()
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["columns"] == [dynamic, "Contact ID"]
    accepted = api.post(BASE, json={"type": "contact", "columns": [dynamic]}, headers=auth())
    assert accepted.status_code == 202, accepted.text


def test_a_run_writes_the_chosen_columns_and_fails_plainly_on_one_gone(
    export: Callable[..., Exported],
) -> None:
    whole = export("contact")
    dynamic = next(c for c in whole.header if "(custom field" in c)
    chosen = [dynamic, "Contact ID", "Name"]
    cut = export("contact", options={"columns": chosen})
    assert cut.header == chosen
    assert cut.rows == [{name: row[name] for name in chosen} for row in whole.rows]
    gone = export(
        "contact", options={"columns": ["Contact ID", "Removed Field"]}, expect_success=False
    )
    assert gone.report.status == "failed"
    assert gone.report.error == (
        "The chosen columns changed: not a column of the Contact export: 'Removed Field'. "
        "Please request the export again."
    )
