"""The documentation stays true: every request body it shows (docs/, the README and the
OpenAPI examples) is accepted by the API and exports rows from a replica made like `make
up`'s sample; every filter and column is documented; links resolve; /docs needs no
internet."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from api.schemas import COUNT_EXAMPLES, REQUEST_EXAMPLES
from devstack import REPO
from reports_pipeline.formats import FORMATS, FileOptions
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.request import REQUEST_MODELS, parse_request
from tests.conftest import auth
from warehouse.generate import ReplicaSpec, generate

DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.S)
# Every field a request of some type may have (a summary's options too).
REQUEST_KEYS = {name for model in REQUEST_MODELS.values() for name in model.model_fields}
# `make up`'s sample: same seed and organisations, so the same ids; fewer chats, and a
# fixed last day so the suite exports the same rows on any date.
SAMPLE = ReplicaSpec(orgs=8, chats_per_org=3_000, seed=1, end=date(2026, 11, 25))


def documented_requests() -> list[tuple[str, dict[str, Any]]]:
    found = [(f"openapi:{name}", example["value"]) for name, example in REQUEST_EXAMPLES.items()]
    for path in DOCS:
        for n, block in enumerate(JSON_BLOCK.findall(path.read_text())):
            body = json.loads(block)
            if isinstance(body, dict) and "type" in body and set(body) <= REQUEST_KEYS:
                found.append((f"{path.name}:{n}", body))
    return found


REQUESTS = documented_requests()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample") / "replica"
    generate(root, SAMPLE)
    return root


def test_the_docs_show_a_request_of_every_type() -> None:
    shown = {body["type"] for name, body in REQUESTS if not name.startswith("openapi:")}
    assert shown == set(REPORT_TYPES)


@pytest.mark.parametrize("body", [b for _, b in REQUESTS], ids=[n for n, _ in REQUESTS])
def test_every_documented_request_exports_rows_from_the_sample(
    sample: Path, body: dict[str, Any]
) -> None:
    request = parse_request(body)
    report_type = REPORT_TYPES[request.type]
    rows = 0

    def counted(batches: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        nonlocal rows
        for batch in batches:
            rows += batch.height
            yield batch

    with ReplicaReader(sample, "org_001") as reader:
        export = report_type.export(reader, request, 50_000)
        options = FileOptions(timezone=request.timezone)
        encoded = FORMATS[request.format].encode(export.columns, counted(export.batches), options)
        assert sum(len(chunk) for chunk in encoded) > 0  # the file, in the request's format
    assert rows >= 1


def test_every_documented_request_is_accepted_by_the_api(api: TestClient) -> None:
    base = "/api/wp-crm/reports/org_001"
    for _, body in REQUESTS:
        answer = api.post(base, json=body, headers=auth())
        assert answer.status_code == 202, (body, answer.text)
        canceled = api.post(f"{base}/{answer.json()['id']}/cancel", headers=auth())
        assert canceled.status_code == 200
    for name, example in COUNT_EXAMPLES.items():
        counted = api.post(f"{base}/count", json=example["value"], headers=auth())
        assert counted.status_code == 200 and counted.json()["type"] == name, counted.text


def test_every_filter_and_fixed_column_is_documented(sample: Path) -> None:
    text = (REPO / "docs" / "report-types.md").read_text()
    found = re.findall(r"^## ([\w ]+?) — .*?\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    # A section may document several types ("## chat_summary and agent_summary — ...").
    sections = {name: body for names, body in found for name in names.split(" and ")}
    for name, report_type in REPORT_TYPES.items():
        section = sections[name]
        for field in _own_filters(report_type.filters):
            assert f"`{field}`" in section, f"{name}: filter {field} is not documented"
        for column in _header_without_data(sample, name):
            assert f"`{column}`" in section, f"{name}: column {column} is not documented"


def _own_filters(model: type) -> set[str]:
    """A type's filters, less those it takes from another type's (documented there)."""
    others = {t.filters for t in REPORT_TYPES.values()} - {model}
    inherited = {f for other in others if issubclass(model, other) for f in other.model_fields}
    return set(model.model_fields) - inherited  # type: ignore[attr-defined]


def _header_without_data(root: Path, name: str) -> list[str]:
    """The fixed part of a type's header (an organisation with no rows has no dynamic one)."""
    request = parse_request({"type": name})
    with ReplicaReader(root, "org_none") as reader:
        return REPORT_TYPES[name].export(reader, request, 1_000).columns


def test_links_between_the_docs_resolve() -> None:
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text()):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_the_api_docs_pages_need_no_internet(api: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = api.get(page).text
        assert "http://" not in html and "https://" not in html, page
        for asset in re.findall(r"""(?:src|href)=["']?(/docs/assets/[^"' >]+)""", html):
            fetched = api.get(asset)
            assert fetched.status_code == 200 and len(fetched.content) > 1000, asset
