"""The API fuzzed from its own OpenAPI document (schemathesis): whatever a client sends,
no 500, and every error body has the documented `{"detail", "code"}` shape."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from api.main import create_app
from tests.conftest import api_settings, auth

# The document the service publishes; the cases are sent to the `api` fixture's app
# (real job table on SQLite and PostgreSQL, real S3 server).
schema = schemathesis.openapi.from_dict(create_app(api_settings()).openapi()).include(
    path_regex="^/api/"  # the partner API; /readyz is 503 here by design (no Dagster)
)

# Dates come from a small pool of edges (so both bounds often fall on one day) and
# timestamps carry the widest offsets; each bound of a range is a date or a timestamp
# independently, so ranges mix the two forms.
EDGE_DATES = st.sampled_from([date.min, date.max, date(2024, 2, 29), date(2026, 3, 29)])
OFFSETS = st.sampled_from(["Z", "+14:00", "-14:00", "+05:30", "-00:00", "+00:00"])
schemathesis.openapi.format("date", EDGE_DATES.map(date.isoformat))
schemathesis.openapi.format(
    "date-time",
    st.builds(
        lambda d, t, o: f"{d.isoformat()}T{t.isoformat()}{o}", EDGE_DATES, st.times(), OFFSETS
    ),
)

# Generated cases only: schemathesis's explicit phase combines the schema's examples into
# thousands of bodies per operation (a minute each for the two that take filters); the
# documented examples are sent as they are by tests/test_docs.py.
FUZZ_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure is reproducible
    suppress_health_check=list(HealthCheck),
    phases=[Phase.generate],
)


def send(api: TestClient, case: Any, headers: dict[str, str]) -> Any:
    request = case.as_transport_kwargs(base_url=str(api.base_url), headers=headers)
    return api.request(
        request["method"],
        request["url"],
        headers=request.get("headers"),
        params=request.get("params"),
        content=request.get("data") or request.get("content"),
        json=request.get("json"),
    )


def assert_error_shape(response: Any) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) >= {"detail", "code"}, body
    assert isinstance(body["code"], str) and body["code"]
    text = response.text.lower()
    assert "traceback" not in text and "sqlalchemy" not in text and ".py" not in text


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzzed_requests_as_an_admin_never_break_the_api(api: TestClient, case: Any) -> None:
    # Most generated organisation ids are not the token's (a clean 404); aim at the token's.
    if case.path_parameters and "organisationId" in case.path_parameters:
        case.path_parameters["organisationId"] = "org_001"
    response = send(api, case, auth())
    case.validate_response(
        response,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
    assert_error_shape(response)


@schema.parametrize()
@FUZZ_SETTINGS
# The token is refused before the job table is read: one backend is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fuzzed_requests_without_a_valid_token_are_refused_cleanly(
    api: TestClient, case: Any
) -> None:
    response = send(api, case, {"Authorization": "Bearer not.a.token"})
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code in (401, 404, 405, 413, 422), response.text
    assert_error_shape(response)
