"""The registries are the single list of report types and file formats: the API, the
schedule form, the page's data and the bench all say what they say. Removing or adding a
registry line without the rest makes a test here fail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.latency_bench import TYPES as BENCH_TYPES
from reports_pipeline.formats import FORMATS
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.schedules import ScheduleCreate

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


def test_the_page_offers_the_registered_types_with_their_labels() -> None:
    script = (STATIC / "reports.js").read_text()
    offered = re.findall(r'\{ name: "(\w+)", label: "([^"]+)", schema: "(\w+)" \}', script)
    assert [(n, label) for n, label, _ in offered] == [
        (t.name, t.label) for t in REPORT_TYPES.values()
    ]


def test_the_page_spans_each_types_own_date_filter() -> None:
    script = (STATIC / "schedules.js").read_text()
    block = script.split("const DATE_FILTER = {", 1)[1].split("};", 1)[0]
    page = dict(re.findall(r"(\w+): \"(\w+)\"", block))
    assert page == {t.name: t.date_filter for t in REPORT_TYPES.values()}
    for t in REPORT_TYPES.values():
        assert t.date_filter in t.filters.model_fields


def test_the_page_offers_the_registered_formats() -> None:
    html = (STATIC / "reports.html").read_text()
    select = html.split('id="file-format"', 1)[1].split("</select>", 1)[0]
    # in the page's own order (Excel second, for admins)
    assert sorted(re.findall(r'<option value="(\w+)"', select)) == sorted(FORMATS)
    labels = re.search(r"const FORMAT_LABELS = \{([^}]*)\}", (STATIC / "reports.js").read_text())
    assert labels and sorted(re.findall(r"(\w+): \"", labels[1])) == sorted(FORMATS)


def test_the_bench_measures_every_type() -> None:
    assert list(BENCH_TYPES) == list(REPORT_TYPES)


def test_the_api_description_names_every_type_and_format(api: TestClient) -> None:
    described = api.get("/openapi.json").json()["info"]["description"]
    for named in [*REPORT_TYPES.values(), *FORMATS.values()]:
        assert named.label and named.label in described
