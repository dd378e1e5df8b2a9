"""The registries are the single list of report types and file formats: the API, the
schedule form, the page's data and the bench all say what they say. Removing or adding a
registry line without the rest makes a test here fail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from fastapi.testclient import TestClient

from bench.latency_bench import TYPES as BENCH_TYPES
from reports_pipeline.catalogue import catalogue, type_info
from reports_pipeline.filters import PredicateOp
from reports_pipeline.formats import FORMATS
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.reports.chat import ChannelType
from reports_pipeline.schedules import ScheduleCreate
from tests.conftest import auth

STATIC = Path(__file__).resolve().parents[1] / "api" / "static"


def enum_of(schema: dict[str, Any], model: str, field: str) -> list[str]:
    found: list[str] = schema["components"]["schemas"][model]["properties"][field]["enum"]
    return found


def test_the_api_accepts_exactly_the_registered_types_and_formats(api: TestClient) -> None:
    openapi = api.get("/openapi.json").json()
    assert enum_of(openapi, "RowCountPublic", "type") == list(REPORT_TYPES)
    for report_type in REPORT_TYPES.values():
        model = "".join(part.title() for part in report_type.name.split("_")) + "ReportCreate"
        assert openapi["components"]["schemas"][model]["properties"]["type"]["const"] == (
            report_type.name
        )
        assert enum_of(openapi, model, "format") == list(FORMATS)


def test_the_schedule_form_takes_the_registered_types_and_formats() -> None:
    schema = ScheduleCreate.model_json_schema()["properties"]
    assert schema["type"]["enum"] == list(REPORT_TYPES)
    assert schema["format"]["enum"] == list(FORMATS)


def test_the_catalogue_offers_the_registered_types_formats_and_filters(api: TestClient) -> None:
    offered = api.get("/api/wp-crm/reports/org_001/types", headers=auth()).json()
    assert [(t["name"], t["label"]) for t in offered["types"]] == [
        (t.name, t.label) for t in REPORT_TYPES.values()
    ]
    for shown, registered in zip(offered["types"], REPORT_TYPES.values(), strict=True):
        assert [f["name"] for f in shown["filters"]] == list(registered.filters.model_fields)
        assert shown["date_filter"] == registered.date_filter
        assert registered.date_filter in registered.filters.model_fields
    assert [f["name"] for f in offered["formats"]] == list(FORMATS)
    assert [o["id"] for o in offered["operators"]] == list(get_args(PredicateOp))


def test_the_page_has_a_widget_and_a_group_for_every_filter_it_is_offered() -> None:
    script = (STATIC / "filters.js").read_text()
    widgets = set(re.findall(r"^  (\w+)\(filter\) \{", script, re.M))
    offered = catalogue()
    groups = {g.id for g in offered.groups}
    for report_type in offered.types:
        for f in report_type.filters:
            assert f.kind in widgets, (report_type.name, f.name)
            assert f.group in groups, (report_type.name, f.name)


def test_the_page_names_no_type_format_or_filter_of_its_own() -> None:
    """Whatever the page says of types, formats and filters comes from `…/types`."""
    names = {*REPORT_TYPES, *FORMATS}
    names |= {n for t in REPORT_TYPES.values() for n in t.filters.model_fields if "_" in n}
    for path in STATIC.iterdir():
        text = path.read_text()
        quoted = set(re.findall(r"[\"'`](\w+)[\"'`]", text)) | set(
            re.findall(r"value=\"(\w+)\"", text)
        )
        assert not quoted & names, (path.name, sorted(quoted & names))


def test_a_set_filter_offers_its_fixed_values_by_name() -> None:
    chat = type_info(REPORT_TYPES["chat"])
    channel_types = next(f for f in chat.filters if f.name == "channel_types")
    assert channel_types.kind == "set" and channel_types.group == "people"
    assert [c.id for c in channel_types.choices or []] == list(get_args(ChannelType))
    assert "WhatsApp (official)" in [c.name for c in channel_types.choices or []]
    assignees = next(f for f in chat.filters if f.name == "assignees")
    assert (assignees.numeric, assignees.every, assignees.options) == (True, True, "members")


def test_the_bench_measures_every_type() -> None:
    assert list(BENCH_TYPES) == list(REPORT_TYPES)


def test_the_api_description_names_every_type_and_format(api: TestClient) -> None:
    described = api.get("/openapi.json").json()["info"]["description"]
    for named in [*REPORT_TYPES.values(), *FORMATS.values()]:
        assert named.label and named.label in described
